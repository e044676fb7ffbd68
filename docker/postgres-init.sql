-- A second database for the MLflow tracking server's store.
CREATE DATABASE mlflow;

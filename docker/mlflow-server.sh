#!/bin/sh
# Start the MLflow tracking server with basic-auth. The auth config is written
# from the environment so the service account's password never sits in a file
# of the repository. Everyone may read; only the admin account (Modelgate's
# service account) may edit models and move aliases.
set -eu
mkdir -p /mlflow-auth
cat > /mlflow-auth/auth.ini <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:////mlflow-auth/basic_auth.db
admin_username = ${MLFLOW_SERVICE_USERNAME:-modelgate}
admin_password = ${MLFLOW_SERVICE_PASSWORD}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH=/mlflow-auth/auth.ini
exec mlflow server \
  --app-name basic-auth \
  --backend-store-uri "${MLFLOW_BACKEND_STORE_URI}" \
  --artifacts-destination /mlartifacts \
  --serve-artifacts \
  --host 0.0.0.0 --port 5000 --workers 2

#!/bin/sh
# Start the MLflow tracking server with basic-auth. The auth config is written
# from the environment to the temporary folder (tmpfs in compose and
# Kubernetes), so the service account's password sits neither in the
# repository nor on a volume. Everyone may read; only the admin account
# (Modelgate's service account) may edit models and move aliases.
set -eu
auth_ini=${TMPDIR:-/tmp}/mlflow-auth.ini
umask 077
cat > "$auth_ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:////mlflow-auth/basic_auth.db
admin_username = ${MLFLOW_SERVICE_USERNAME:-modelgate}
admin_password = ${MLFLOW_SERVICE_PASSWORD}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$auth_ini"
# MLflow refuses Host headers outside this list (DNS rebinding); its default
# (localhost and private IP addresses) leaves out a service name such as
# "mlflow" or "modelgate-mlflow", which is how the other containers reach it.
exec mlflow server \
  --app-name basic-auth \
  --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-mlflow,mlflow:5000,localhost,localhost:*,127.0.0.1,127.0.0.1:*}" \
  --backend-store-uri "${MLFLOW_BACKEND_STORE_URI}" \
  --artifacts-destination /mlartifacts \
  --serve-artifacts \
  --host 0.0.0.0 --port 5000 --workers 2

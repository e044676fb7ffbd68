#!/usr/bin/env bash
# Deploy an overlay with a given image: deploy.sh <staging|production|dev> <image:tag>
# (RENDER_ONLY=1 prints the objects instead of applying them).
# Order: the migration Job runs to completion on the new image, then the
# Deployments roll (their pods also wait in an init container until every
# migration is applied). Never touches MLflow aliases: which model version
# is served stays with Modelgate's promotion workflow.
set -euo pipefail
overlay=${1:?usage: deploy.sh <overlay> <image:tag>}
image=${2:?usage: deploy.sh <overlay> <image:tag>}
here=$(cd "$(dirname "$0")" && pwd)
namespace=$(awk '/^namespace:/ {print $2}' "$here/overlays/$overlay/kustomization.yaml")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/base" "$here/overlays" "$work/"
mkdir "$work/release"
cat > "$work/release/kustomization.yaml" <<YAML
bases:
  - ../overlays/$overlay
images:
  - name: ghcr.io/example/modelgate
    newName: ${image%:*}
    newTag: "${image##*:}"
YAML
kubectl kustomize "$work/release" > "$work/rendered.yaml"
if [ "${RENDER_ONLY:-0}" = 1 ]; then  # print what would be applied
  cat "$work/rendered.yaml"
  exit 0
fi
for secret in modelgate-secrets modelgate-mlflow-secrets; do
  kubectl -n "$namespace" get secret "$secret" >/dev/null \
    || { echo "Secret $namespace/$secret is missing (docs/deploy.md)" >&2; exit 1; }
done


# The worker pools are selected by queue since they were split: a Deployment's
# selector cannot change, so an older single worker Deployment is replaced.
if kubectl -n "$namespace" get deployment modelgate-worker >/dev/null 2>&1 \
  && [ -z "$(kubectl -n "$namespace" get deployment modelgate-worker \
        -o jsonpath='{.spec.selector.matchLabels.modelgate/queue}')" ]; then
  kubectl -n "$namespace" delete deployment modelgate-worker --wait=true
fi

echo "== migrations ($image)"
kubectl -n "$namespace" delete job modelgate-migrate --ignore-not-found --wait=true
kubectl apply -f "$work/rendered.yaml"
kubectl -n "$namespace" wait --for=condition=complete job/modelgate-migrate --timeout=900s

echo "== rollout"
for deployment in modelgate-mlflow modelgate-web modelgate-worker \
  modelgate-worker-monitoring modelgate-worker-serving modelgate-worker-training \
  modelgate-stream modelgate-beat; do
  kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout=600s
done
echo "deployed $image to $namespace"

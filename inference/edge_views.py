"""The edge page: the production model downloaded once and run in the browser
with onnxruntime-web (served from Modelgate's own static files), offline after
the first load thanks to a service worker."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views import View

from core.exceptions import ApplicationError
from inference.services.edge import edge_model_get
from inference.views import PredictorRequired

ORT_FILES = {
    "script": "vendor/onnxruntime-web/ort.wasm.min.js",
    "mjs": "vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs",
    "wasm": "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm",
}
PAGE_SCRIPT = "inference/edge.js"


def _config(name: str, alias: str) -> dict:
    return {
        "name": name,
        "alias": alias,
        "page": reverse("inference:edge-page", args=[name]),
        "model": reverse("inference:api-edge-model", args=[name]) + f"?alias={alias}",
        "telemetry": reverse("inference:api-edge-telemetry", args=[name]),
        "ortMjs": static(ORT_FILES["mjs"]),
        "ortWasm": static(ORT_FILES["wasm"]),
        "serviceWorker": reverse("inference:edge-sw", args=[name]),
        "checkSeconds": 30,
    }


class EdgePageView(PredictorRequired, View):
    template_name = "inference/edge.html"

    def get(self, request, name: str):
        alias = "production"
        try:
            edge = edge_model_get(name=name, user=request.user, alias=alias)
            error, status = None, 200
        except ApplicationError as exc:
            edge, error, status = None, exc.message, exc.status_code
        context = {
            "name": name,
            "alias": alias,
            "edge": edge,
            "error": error,
            "config": _config(name, alias),
            "ort_script": ORT_FILES["script"],
            "page_script": PAGE_SCRIPT,
        }
        return render(request, self.template_name, context, status=status)


class EdgeServiceWorkerView(PredictorRequired, View):
    """The service worker of one model's edge page: its scope
    (``/models/<name>/``) covers the page; it keeps the page and the runtime's
    files for offline use (the page itself keeps the model)."""

    def get(self, request, name: str):
        config = _config(name, "production")
        precache = [
            config["page"],
            static(ORT_FILES["script"]),
            config["ortMjs"],
            config["ortWasm"],
            static(PAGE_SCRIPT),
            static("css/modelgate.css"),
        ]
        body = SERVICE_WORKER.replace("__PRECACHE__", json.dumps(precache)).replace(
            "__CACHE__", json.dumps(f"modelgate-edge-{name}")
        )
        response = HttpResponse(body, content_type="text/javascript")
        response["Cache-Control"] = "no-cache"
        return response


SERVICE_WORKER = """
const CACHE = __CACHE__;
const PRECACHE = __PRECACHE__;
self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE))
    .then(() => self.skipWaiting()));
});
self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});
self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  if (url.pathname.startsWith('/static/')) {
    // hashed names never change: the cache first
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
    return;
  }
  if (PRECACHE.includes(url.pathname)) {
    // the page: the network first, the cached copy when offline
    event.respondWith(fetch(request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((c) => c.put(request, copy));
      }
      return response;
    }).catch(() => caches.match(request)));
  }
});
"""

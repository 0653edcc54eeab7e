"""The hand-written peer: the benchmark's LightGBM booster behind one Starlette route.

``POST /invocations`` takes ``{"instances": [[...], ...]}`` and answers what Shipyard's
endpoint answers: ``{"predictions": [...], "probabilities": [[p0, p1], ...]}``. It predicts
on the event loop (a one-row LightGBM prediction takes microseconds), as a hand-written
service would. benchmarks/serving.py starts it with ``uvicorn starlette_app:app
--no-access-log`` from the project's environment and names the model file in
``SERVING_BENCH_MODEL``.
"""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

booster = lgb.Booster(model_file=os.environ["SERVING_BENCH_MODEL"])


async def invocations(request: Request) -> JSONResponse:
    document = await request.json()
    positive = np.asarray(booster.predict(np.asarray(document["instances"], dtype=np.float32)))
    return JSONResponse(
        {
            "predictions": (positive > 0.5).astype(int).tolist(),
            "probabilities": np.column_stack((1.0 - positive, positive)).tolist(),
        }
    )


app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])

"""The CRM's app keys: what the composition root puts in the app for the routes."""

from __future__ import annotations

from aiohttp import web

from libs.storage.blobs import BlobStore
from services.crm.handlers import Crm
from services.crm.handlers.processes.runner import JobRunner

CRM = web.AppKey("crm", Crm)
RUNNER = web.AppKey("job_runner", JobRunner)
BLOBS = web.AppKey("crm_blobs", BlobStore)

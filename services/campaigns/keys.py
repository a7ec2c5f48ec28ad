"""The campaigns service's app keys: what the composition root puts in the app for the entrypoints."""

from __future__ import annotations

from aiohttp import web

from services.campaigns.handlers import CampaignsService
from services.campaigns.settings import CampaignsSettings
from services.campaigns.views import CampaignViews

SERVICE = web.AppKey("campaigns_service", CampaignsService)
VIEWS = web.AppKey("campaigns_views", CampaignViews)
CAMPAIGNS_SETTINGS = web.AppKey("campaigns_settings", CampaignsSettings)

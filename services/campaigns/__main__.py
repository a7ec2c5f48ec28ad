"""Run the campaigns service: ``python -m services.campaigns``."""

from libs.core.service import run_service
from services.campaigns.app import create_app
from services.campaigns.settings import CampaignsSettings

if __name__ == "__main__":
    run_service(create_app, CampaignsSettings())

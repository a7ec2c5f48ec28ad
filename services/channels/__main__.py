"""Run the channels service: ``python -m services.channels``."""

from libs.core.service import run_service
from services.channels.app import create_app
from services.channels.settings import ChannelsSettings

if __name__ == "__main__":
    run_service(create_app, ChannelsSettings())

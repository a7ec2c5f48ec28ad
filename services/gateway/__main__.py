"""Run the gateway: ``python -m services.gateway``."""

from libs.core.service import run_service
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

if __name__ == "__main__":
    run_service(create_app, GatewaySettings())

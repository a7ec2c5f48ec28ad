"""Run the router: ``python -m services.router``."""

from libs.core.service import run_service
from services.router.app import create_app
from services.router.settings import RouterSettings

if __name__ == "__main__":
    run_service(create_app, RouterSettings())

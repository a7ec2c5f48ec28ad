"""Run the scheduler: ``python -m services.scheduler``."""

from libs.core.service import run_service
from services.scheduler.app import create_app
from services.scheduler.settings import SchedulerSettings

if __name__ == "__main__":
    run_service(create_app, SchedulerSettings())

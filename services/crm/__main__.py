"""Run the CRM service: ``python -m services.crm``."""

from libs.core.service import run_service
from services.crm.app import create_app
from services.crm.settings import CrmSettings


def main() -> None:
    run_service(create_app, CrmSettings())


if __name__ == "__main__":
    main()

"""CRM settings (env prefix ``SB_CRM_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from libs.core.secretbox import DEV_KEY, SecretBox, SecretBoxError
from libs.core.settings import ServiceSettings

DEV_EXTERNAL_LINK_SECRET = "switchboard-development-external-link-secret"


class CrmSettings(ServiceSettings):
    """Settings of the CRM service."""

    model_config = SettingsConfigDict(env_prefix="SB_CRM_", extra="ignore")

    service_name: str = "crm"
    port: int = 8085
    # Region used to read phone numbers written without an international prefix.
    default_region: str = "US"
    # Without SB_BLOB_URL: the folder of attachments, uploads and outcome files. With it: the local cache of
    # uploads, which the import readers need as local files (an emptyDir in Kubernetes).
    blob_dir: str = ".data/crm-blobs"
    # Files bigger than this go up as multipart uploads of parts this size (S3's minimum part is 5 MB).
    blob_part_mb: int = Field(8, ge=5)
    # Channel used to e-mail a case comment to its contact when the request names none.
    email_channel_id: str | None = None
    # Click-to-call: the channels service's internal API (its admin port), which rings the agent, then the contact.
    channels_url: str = "http://127.0.0.1:8086"
    channels_timeout_s: float = Field(20.0, gt=0)
    # An unclassified call can still be classified for this long.
    unclassified_call_hours: float = 24.0
    # Uploads bigger than this are refused (a 1,000,000-row CSV is ~100 MB).
    max_upload_mb: int = 512
    # A file an agent attaches to a reply (POST /conversations/{id}/media): what WhatsApp takes for a video.
    max_media_mb: int = Field(16, ge=1, le=100)
    # Uploaded workbooks are hostile input: what an XLSX may hold; more is refused (400 `file`) before the memory
    # or the time is spent. Rows count the header; empty styled cells right of the last column are ignored.
    xlsx_max_rows: int = 1_000_001
    xlsx_max_columns: int = 1024
    xlsx_max_shared_strings: int = 2_000_000
    xlsx_max_unpacked_mb: int = 2048
    # XLS, XLSB and ODS are read whole into memory (calamine): about how much one read may take (their size is
    # bounded from it before anything is read: ODS unpacked two thirds of it, XLS and XLSB a seventh).
    workbook_max_memory_mb: int = 96
    # Background jobs: rows per committed chunk, and how long a runner's lease lasts without a heartbeat.
    job_chunk_rows: int = 10_000
    job_lease_s: float = 30.0
    job_poll_s: float = 1.0
    # A job that fails this many attempts in a row without progress (its runner's process dies, or it raises an
    # unexpected or transient error) ends as failed with the reason; a failed attempt is retried after this
    # backoff times the failures so far.
    job_max_attempts: int = Field(3, ge=1)
    job_retry_backoff_s: float = 5.0
    # Run the background job runner in this process.
    run_jobs: bool = True
    # Signs the read-only external case links (seed 002 "Vista Externa de Casos"); changing it voids every link.
    external_link_secret: str = DEV_EXTERNAL_LINK_SECRET
    # Outbound webhooks to external CRMs: attempts before a delivery goes to the dead-letter list, the first retry
    # delay (doubling each time, with jitter), the request timeout, and how often the sender looks for work.
    webhook_max_attempts: int = Field(8, ge=1, le=50)
    webhook_backoff_s: float = Field(5.0, gt=0)
    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_poll_s: float = Field(1.0, gt=0)
    run_webhooks: bool = True
    # Keys that seal the webhooks' signing secrets at rest ('<id>:<base64 32 bytes>', first current; a development
    # key when empty). In production without them no webhook can be created.
    secret_keys: SecretStr = SecretStr("")
    # How often the owner index (assigned users by address, for the router) is looked at for changes.
    owner_index_interval_s: float = 0.5
    # Seed the CRM part of the demo tenant (SB_DEMO_SEED).
    demo_seed: bool = Field(False, validation_alias=AliasChoices("SB_DEMO_SEED", "demo_seed"))

    def secret_box(self) -> SecretBox:
        """The keys of the secrets at rest (a development key when none is set).

        Raises:
            ValueError: a malformed key list.
        """
        spec = self.secret_keys.get_secret_value()
        if not spec.strip():
            return SecretBox.development()
        try:
            return SecretBox.parse(spec)
        except SecretBoxError as exc:
            raise ValueError(f"SB_CRM_SECRET_KEYS: {exc}") from None

    def secrets_ready(self) -> bool:
        """In production, secrets at rest need real keys, not the development one."""
        return self.env != "production" or not any(key == DEV_KEY for _, key in self.secret_box().keys)

    def external_links_ready(self) -> bool:
        """In production the links need a real secret (at least 32 characters), not the development one."""
        return self.env != "production" or (self.external_link_secret != DEV_EXTERNAL_LINK_SECRET
                                            and len(self.external_link_secret) >= 32)

"""The settings model.

One data directory (``home``) holds the catalog, the storage root, the search index,
the work folders and the keys; each can be overridden. Settings come from, in order of
precedence: keyword arguments, ``JUANZONG_*`` environment variables, the TOML file named
by ``JUANZONG_CONFIG``, then ``config/defaults.toml``. Stages never read the environment:
flows receive a frozen ``Settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JUANZONG_", frozen=True, extra="forbid")

    home: Path = Path("var")
    catalog_url: str = ""
    storage_root: Path | None = None
    replica_root: Path | None = None
    work_root: Path | None = None
    index_backend: Literal["embedded", "elasticsearch"] = "embedded"
    index_path: Path | None = None
    es_url: str = ""
    es_api_key: SecretStr | None = None
    es_username: str = ""
    es_password: SecretStr | None = None
    es_ca_cert: Path | None = None
    es_index_prefix: str = "juanzong"
    es_analyzer: str = "standard"
    signing_key: Path | None = None
    signing_cert: Path | None = None
    signing_chain: Path | None = None
    signature_algorithm: Literal["ecdsa-p256", "ed25519", "sm2"] = "ecdsa-p256"
    dissemination_key: Path | None = None
    dissemination_cert: Path | None = None
    root_cert: Path | None = None
    root_key: Path | None = None
    crl: Path | None = None
    signer_backend: Literal["file", "pkcs11"] = "file"
    pkcs11_module: Path | None = None
    pkcs11_token: str = ""
    pkcs11_key_label: str = ""
    pkcs11_pin: SecretStr | None = None
    tsa_url: str = ""
    tsa_root_cert: Path | None = None
    timestamp_renewal_days: int = 365
    retired_digest_algorithms: list[str] = []
    ocr_languages: str = "chi_sim"
    ocr_jobs: int = 0
    ocr_timeout_seconds: int = 180
    ocr_confidence_threshold: float = 60.0
    ocr_seal_suppression: bool = True
    ocr_deskew: bool = True
    ocr_clean: bool = True
    ocr_typography: bool = True
    ocr_engine: str = "ppocr"
    ocr_hybrid_confidence: float = 90.0
    ocr_onnx_threads: int = 0
    ocr_onnx_provider: Literal["auto", "cpu", "cuda"] = "auto"
    ocr_ppocr_batch_size: int = 0
    ocr_ppocr_detect_side: int = 832
    min_dpi: int = 200
    fonds_code: str = "J001"
    dip_link_ttl_hours: int = 72
    four_eyes_approval: bool = True  # nobody approves a reading request they created; off for a one-person archive
    notification_spool: Path | None = None
    registry_journal: Path | None = None  # rows no storage holds (archive.catalog.registry); back it up
    prefect_server_idle_seconds: float = 900.0  # in-process mode's shared Prefect server; 0: none
    max_upload_bytes: int = 4 << 30
    max_zip_ratio: float = 100.0
    hot_folder: Path | None = None  # the folder the `watch` deployment takes batches from
    clamav_db: Path | None = None  # folder of ClamAV signature files the court supplies
    clamav_socket: Path | None = None  # a running clamd; without it Juanzong starts its own on clamav_db
    clamav_max_age_days: int = 7
    clamav_required: bool = False  # refuse batches that cannot be scanned (no database)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [DEFAULTS_FILE]
        user_file = os.environ.get("JUANZONG_CONFIG")
        if user_file:
            if not Path(user_file).is_file():
                raise SettingsError(f"JUANZONG_CONFIG names {user_file}, which is not a file")
            files.append(Path(user_file))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=files))

    @field_validator("catalog_url")
    @classmethod
    def _catalog_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value

    @field_validator("ocr_confidence_threshold", "ocr_hybrid_confidence")
    @classmethod
    def _percent(cls, value: float) -> float:
        if not 0 <= value <= 100:
            raise ValueError("must be between 0 and 100")
        return value

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        home = self.home.expanduser().absolute()
        derived = {
            "home": home,
            "catalog_url": self.catalog_url or f"sqlite:///{home / 'catalog.sqlite'}",
            "storage_root": self.storage_root or home / "storage",
            "work_root": self.work_root or home / "work",
            "index_path": self.index_path or home / "index",
            "signing_key": self.signing_key or home / "keys" / "archive-signing.key",
            "signing_cert": self.signing_cert or home / "keys" / "archive-signing.pem",
            "dissemination_key": self.dissemination_key or home / "keys" / "dissemination.key",
            "dissemination_cert": self.dissemination_cert or home / "keys" / "dissemination.pem",
            "root_cert": self.root_cert or home / "keys" / "root-ca.pem",
            "root_key": self.root_key or home / "root-ca" / "root-ca.key",
            "crl": self.crl or home / "keys" / "root-ca.crl.pem",
            "ocr_jobs": self.ocr_jobs or (os.cpu_count() or 1),
            "notification_spool": self.notification_spool or home / "outbox",
            "registry_journal": self.registry_journal or home / "registry" / "journal.jsonl",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        if self.index_backend == "elasticsearch" and not self.es_url:
            raise ValueError("es_url (JUANZONG_ES_URL) is required when index_backend is elasticsearch")
        return self

    @property
    def intake_root(self) -> Path:
        return self.home / "intake"

    @property
    def quarantine_root(self) -> Path:
        return self.home / "quarantine"

    @property
    def clamd_state(self) -> Path:
        """Juanzong's own clamd (config, pid, log) when no ``clamav_socket`` is given."""
        return self.home / "run" / "clamd"

    @property
    def log_dir(self) -> Path:
        """The hash-chained preservation log and its signed heads (``archive.auditlog``)."""
        return self.home / "log"

    @property
    def dip_root(self) -> Path:
        return self.home / "dip"

    @property
    def copy_template_root(self) -> Path:
        """Derived, reader-independent templates of sealed copies (``dissemination.template``)."""
        return self.home / "cache" / "copy-templates"


def load_settings(**overrides: object) -> Settings:
    """Build the settings once at the edge; turn validation errors into one sentence per setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"setting {name!r} (JUANZONG_{name.upper()}): {err['msg']}")
        raise SettingsError("; ".join(lines)) from None

"""Configuration: the typed tree (``schema``) and its loading/validation (``loader``)."""

from netcoach.config.errors import NetcoachError
from netcoach.config.loader import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_toml,
    option_keys,
    to_dict,
    to_toml,
)
from netcoach.config.schema import (
    AugmentConfig,
    Config,
    DataConfig,
    DiagnoseConfig,
    ModelConfig,
    OptimConfig,
    ReportConfig,
    RunConfig,
    ScheduleConfig,
    TrainConfig,
    TransferConfig,
)

__all__ = [
    "AugmentConfig", "Config", "ConfigError", "DataConfig", "DiagnoseConfig", "ModelConfig", "NetcoachError",
    "OptimConfig", "ReportConfig", "RunConfig", "ScheduleConfig", "TrainConfig", "TransferConfig",
    "apply_overrides", "from_dict", "load_toml", "option_keys", "to_dict", "to_toml",
]

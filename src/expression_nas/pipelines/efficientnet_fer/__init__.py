"""``efficientnet_fer``: seed 003's EfficientNetV2-S scaling search with Optuna TPE."""

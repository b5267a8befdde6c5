"""SFT Studio's local trainer: supervised fine-tuning that reports what it does as JSON events.

Run as ``python -m sftstudio_trainer --config RUN_DIR/config.json``. Events go to stdout, one
JSON object per line (the protocol in schemas/trainer-event.schema.json); logs go to stderr.
"""

__version__ = "0.1.0"

"""VGG Explorer's core: plain PyTorch, no Streamlit, usable from a notebook or the CLI."""

from .model import build_model, init_xavier, model_code, vgg_block
from .spec import NAMED, PRESETS, REFERENCES, ArchSpec, SpecError, format_conv_arch, parse_conv_arch, preset
from .summary import Summary, summarize

__all__ = [
    "ArchSpec", "SpecError", "PRESETS", "REFERENCES", "NAMED", "preset", "parse_conv_arch", "format_conv_arch",
    "build_model", "init_xavier", "model_code", "vgg_block", "Summary", "summarize",
]

"""Model, dataset and Space cards for LLaMA-Omni repositories on the Hugging Face Hub, and the push command.

    hub_cards.evaluation   the evaluation-report JSON schema a model card reads (`load_eval_report`)
    hub_cards.parts        what the cards know about base models, instruction sources, voices and licences
    hub_cards.templates    the Jinja templates of the card bodies
    hub_cards.cards        renderers (`render_model_card`, `render_converted_card`, `render_dataset_card`,
                           `render_space_card`) and metadata checks (`check_model_card`, ...)
    hub_cards.push         `llama-omni push model|dataset|space PATH --repo-id ORG/NAME [--dry-run DIR]`

The renderers and the checks import only huggingface_hub, jinja2 and PyYAML (and `datasets` for dataset cards);
building a model repository folder imports the model and processor packages.
"""

from .cards import (
    EVAL_FILE_NAME,
    CardError,
    TrainingRecipe,
    check_dataset_card,
    check_model_card,
    check_space_card,
    inspect_model_folder,
    load_recipe,
    render_converted_card,
    render_dataset_card,
    render_model_card,
    render_space_card,
)
from .evaluation import EVAL_METRICS, EvalReport, EvalReportError, load_eval_report, parse_eval_report

__all__ = [
    "EVAL_FILE_NAME",
    "EVAL_METRICS",
    "CardError",
    "EvalReport",
    "EvalReportError",
    "TrainingRecipe",
    "check_dataset_card",
    "check_model_card",
    "check_space_card",
    "inspect_model_folder",
    "load_eval_report",
    "load_recipe",
    "parse_eval_report",
    "render_converted_card",
    "render_dataset_card",
    "render_model_card",
    "render_space_card",
]

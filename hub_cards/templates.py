# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Jinja templates of the cards (the Markdown body under the YAML metadata block).

The renderers (`hub_cards.model_card`, `hub_cards.dataset_card`, `hub_cards.space_card`) fill them with facts read
from the folder being published (its config, weights, build report, evaluation report, recipes); a template never
invents a number: every value it prints comes from its context, and a section whose facts are missing says so
instead. Rendered with `trim_blocks`, `lstrip_blocks` and `StrictUndefined` (a missing variable is an error, not an
empty string).

Every ```python block of the model card is a runnable snippet (the tests run them, in order, against a dry-run
folder, in an interpreter where this package is not importable).
"""

from __future__ import annotations

MODEL_USAGE_TEMPLATE = '''\
With the transformers `any-to-any` pipeline: a spoken question in, the text answer, or with
`generation_mode="audio"` the spoken answer (`{"audio": float32 array, "sampling_rate": int}`), out:

```python
import soundfile as sf
from transformers import pipeline

pipe = pipeline("any-to-any", model="{{ repo_id }}", trust_remote_code=True)
# The spoken question: a file ("path"), or "audio": (float array, sampling_rate); it is resampled to
# {{ processor_sampling_rate }} Hz and may last at most {{ max_audio_seconds }} s.
messages = [{"role": "user", "content": {{ user_content }}}]
print(pipe(messages, max_new_tokens=256, return_full_text=False)[0]["generated_text"])
spoken = pipe(messages, max_new_tokens=256, generation_mode="audio")[0]["generated_audio"]
sf.write("answer_pipeline.wav", spoken["audio"], spoken["sampling_rate"])
```

Text and speech together, streamed while they are generated:

```python
import numpy as np
import soundfile as sf
import torch
from transformers import AutoModel, AutoProcessor

model_id = "{{ repo_id }}"
# On a GPU: from_pretrained(..., dtype=torch.bfloat16).to("cuda"), and the same for the vocoder.
model = AutoModel.from_pretrained(model_id, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=True)
vocoder = AutoModel.from_pretrained(model_id, subfolder="vocoder", trust_remote_code=True).eval()

# One spoken question: a file, or a mono float array with sampling_rate=...
# (resampled to {{ processor_sampling_rate }} Hz; at most {{ max_audio_seconds }} s).
inputs = processor(audio="question.wav")

# Text and speech stream out together: every `chunk_size` (Omega) new speech units are vocoded and yielded.
chunks = []
stream = model.stream(processor, vocoder=vocoder, chunk_size={{ chunk_size }}, max_new_tokens=256, do_sample=False, **inputs)
for text, audio in stream:
    print(text, end="", flush=True)  # the new text, as soon as it is generated
    chunks.append(audio)  # the new audio, float32 at {{ vocoder_sampling_rate }} Hz: play it now
print()
sf.write("answer.wav", np.concatenate(chunks), vocoder.config.sampling_rate)
```

Without streaming, `generate` returns the text tokens, the speech units and the waveform:

```python
with torch.no_grad():
    out = model.generate(**inputs, vocoder=vocoder, return_audio=True, max_new_tokens=256, do_sample=False)
answer = processor.decode(out.sequences[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
print(answer)
sf.write("answer_full.wav", out.waveforms[0].numpy(), out.sampling_rate)
```
'''

MODEL_CARD_TEMPLATE = '''\
# {{ title }}

{{ title }} is a [LLaMA-Omni]({{ paper_url }}) speech assistant for 🤗 transformers: it listens to a spoken question and
answers with text and speech at the same time, streaming both while the answer is generated.
{% if built_with_llama %}

**Built with Llama.**
{% endif %}

## Model

A Whisper speech encoder reads the question; a speech adaptor stacks {{ adaptor_k }} encoder frames into one LLM input
embedding; the LLM writes the text answer; a non-autoregressive CTC speech decoder turns each answer token's hidden
state (upsampled x{{ upsample }}) into discrete speech units, and a unit vocoder turns every Omega new units into audio.

| part | architecture | parameters |
|---|---|---|
{% for row in architecture %}
| {{ row.part }} | {{ row.what | cell }} | {{ row.parameters }} |
{% endfor %}

{% if vocoder_missing %}
This repository has no `vocoder/` subfolder: the model predicts speech units but cannot make audio on its own; pass
`vocoder=` a unit vocoder to `stream()` / `generate()`.

{% endif %}
## Usage

Install `pip install "transformers=={{ versions.transformers }}" torch soundfile` (the versions this repository was
built with: transformers {{ versions.transformers }}, torch {{ versions.torch }}). The model code lives in this
repository (`auto_map` in `config.json`, `processor_config.json` and `vocoder/config.json`), so loading needs
`trust_remote_code=True`: read the `.py` files first. With the `llama-omni-hf` package installed, the same calls
work without it.

{{ usage }}

## Training

{% if recipes %}
LLaMA-Omni trains in two stages: stage 1 trains the speech adaptor and the LLM on speech -> text; stage 2 freezes
them and trains the CTC speech decoder on the units of the spoken answers. The recipes used for this model
(rerun one with `llama-omni train STAGE --config RECIPE.yaml`):

{% for recipe in recipes %}
**{{ recipe.title }}** (`{{ recipe.file }}`):{% for key, value in recipe.summary %} {{ key }} `{{ value }}`{{ "," if not loop.last else "." }}{% endfor %}


<details><summary>{{ recipe.file }}</summary>

```yaml
{{ recipe.yaml }}
```

</details>

{% endfor %}
{% else %}
No training recipe was recorded with this upload.

{% endif %}
{% if datasets %}
Training data: {% for d in datasets %}[{{ d }}](https://huggingface.co/datasets/{{ d }}){{ ", " if not loop.last else "." }}{% endfor %}

{% endif %}
{% if trainer_results %}
Logged by the trainer of the last stage (`all_results.json`):

| metric | value |
|---|---|
{% for key, value in trainer_results %}
| {{ key }} | {{ value }} |
{% endfor %}

{% endif %}
## Evaluation

{% if evaluation %}
Measured on **{{ evaluation.eval_set.name | cell }}**{% if evaluation.eval_set.split %} (split `{{ evaluation.eval_set.split }}`){% endif %}{% if evaluation.eval_set.num_examples is not none %}, {{ evaluation.eval_set.num_examples }} examples{% endif %}{% if evaluation.model %}, model `{{ evaluation.model }}`{% endif %}{% if evaluation.date %}, {{ evaluation.date }}{% endif %}{% if evaluation.hardware %}, on {{ evaluation.hardware }}{% endif %}.

{% if evaluation.eval_set.description %}
{{ evaluation.eval_set.description }}

{% endif %}
{% if settings %}
Settings:{% for key, value in settings %} {{ key }} `{{ value }}`{{ "," if not loop.last else "." }}{% endfor %}

{% endif %}

{% if metric_rows %}
| metric | value | better | what it measures |
|---|---|---|---|
{% for row in metric_rows %}
| {{ row.name }} | {{ row.value }} | {{ row.better }} | {{ row.description | cell }} |
{% endfor %}

{% endif %}
{% if omega_rows %}
By unit chunk size Omega (units vocoded per audio chunk: smaller = earlier audio, more vocoder calls):

| Omega |{% for name in omega_columns %} {{ name }} |{% endfor %}

|---|{% for name in omega_columns %}---|{% endfor %}

{% for row in omega_rows %}
| {{ row.omega }} |{% for value in row["values"] %} {{ value }} |{% endfor %}

{% endfor %}

{% endif %}
{% if evaluation.notes %}
{{ evaluation.notes }}

{% endif %}
A metric that was not measured is not shown. The numbers come from `{{ eval_file }}` in this repository.

{% else %}
No evaluation results were recorded for this upload (run `llama-omni evaluate` and push with `--eval-json`).

{% endif %}
## Limitations

{% for item in limitations %}
- {{ item }}
{% endfor %}

## Licences

This repository: **{{ license }}**.{% if license_note %} {{ license_note }}{% endif %}


| part | licence | note |
|---|---|---|
{% for part in parts %}
| {{ part.name }} | {{ part.license }} | {{ part.note | cell }} |
{% endfor %}

## Citation

```bibtex
{{ citation }}
```
'''

CONVERTED_CARD_TEMPLATE = '''\
# {{ title }}

The released [{{ source_repo }}](https://huggingface.co/{{ source_repo }}) LLaMA-Omni checkpoint ([paper]({{ paper_url }}),
[code]({{ original_code }})), converted to the `llama_omni` format of llama-omni-hf: it loads with `AutoModel` /
`AutoProcessor` (remote code, no fork of transformers) and streams text and speech from the stock `generate()`.
{% if built_with_llama %}

**Built with Llama.**
{% endif %}

## What changed

{% for item in changes %}
- {{ item }}
{% endfor %}

| part | architecture | parameters |
|---|---|---|
{% for row in architecture %}
| {{ row.part }} | {{ row.what | cell }} | {{ row.parameters }} |
{% endfor %}

{% if vocoder_missing %}
This repository has no `vocoder/` subfolder: the model predicts speech units but cannot make audio on its own; pass
`vocoder=` a unit vocoder (e.g. the converted fairseq CodeHiFiGAN) to `stream()` / `generate()`.

{% endif %}
## Usage

Install `pip install "transformers=={{ versions.transformers }}" torch soundfile` (built with transformers
{{ versions.transformers }}, torch {{ versions.torch }}). The model code lives in this repository, so loading needs
`trust_remote_code=True`: read the `.py` files first.

{{ usage }}

## Evaluation

{% if evaluation %}
Measured on **{{ evaluation.eval_set.name | cell }}**{% if evaluation.eval_set.split %} (split `{{ evaluation.eval_set.split }}`){% endif %}{% if evaluation.eval_set.num_examples is not none %}, {{ evaluation.eval_set.num_examples }} examples{% endif %}.

| metric | value | better | what it measures |
|---|---|---|---|
{% for row in metric_rows %}
| {{ row.name }} | {{ row.value }} | {{ row.better }} | {{ row.description | cell }} |
{% endfor %}

The numbers come from `{{ eval_file }}` in this repository; a metric that was not measured is not shown.
{% else %}
No evaluation of the converted checkpoint was recorded with this upload; see the source repository for the authors'
results.
{% endif %}

## Licences

This repository: **{{ license }}**, as the source checkpoint.{% if license_note %} {{ license_note }}{% endif %}


| part | licence | note |
|---|---|---|
{% for part in parts %}
| {{ part.name }} | {{ part.license }} | {{ part.note | cell }} |
{% endfor %}

## Citation

```bibtex
{{ citation }}
```
'''

DATASET_CARD_TEMPLATE = '''\
# {{ pretty_name }}

Speech-instruction data in the InstructS2S format of [LLaMA-Omni]({{ paper_url }}): spoken questions, answers written
to be read aloud, the spoken answers and their discrete speech units. Built with `llama-omni data build`
(llama-omni-hf){% if complete %}; every count below comes from the build's own report (`build_report.json`, in this
repository){% endif %}.

All speech is synthetic (text-to-speech voices), not recorded from people.

## Contents

| split | examples | read | rejected |
|---|---|---|---|
{% for row in splits %}
| {{ row.name }} | {{ row.kept }} | {{ row.read }} | {{ row.rejected }} |
{% endfor %}

{% if audio_hours %}
Audio:{% for key, value in audio_hours %} {{ key }} speech {{ value }} h{{ "," if not loop.last else "." }}{% endfor %}


{% endif %}
| column | type | content |
|---|---|---|
{% for row in features %}
| `{{ row.name }}` | {{ row.type | cell }} | {{ row.description | cell }} |
{% endfor %}

## Usage

```python
from datasets import load_dataset

ds = load_dataset("{{ repo_id }}", split="{{ first_split }}")
example = ds[0]
print(example["instruction"], "->", example["response"])
question = example["speech_instruction"]  # {"array": float32 samples, "sampling_rate": 16000}
```

## How it was built

1. **Read** the text instructions:

| source | split | goes to | available | selected | licence |
|---|---|---|---|---|---|
{% for row in sources %}
| {{ row.name | cell }} | {{ row.split }} | {{ row.output_split }} | {{ row.available }} | {{ row.selected }} | {{ row.license }} |
{% endfor %}

2. **Rewrite** each instruction as a person would say it: {{ rewrite }}.
3. **Respond**: {{ respond }}.
4. **Speak** the instruction in a voice drawn per example from {{ instruction_voice_count }} voice(s), the answer in
   `{{ response_voice }}` (16 kHz).
5. **Units** of the spoken answer: {{ units }}.

Every example was validated (speakable text within {{ max_instruction_words }} / {{ max_response_words }} words,
audio neither empty, silent nor clipped, units non-empty). {% if rejected_rows %}Rejected, by step and reason:

| step | reason | examples |
|---|---|---|
{% for row in rejected_rows %}
| {{ row.step }} | {{ row.reason | cell }} | {{ row.count }} |
{% endfor %}
{% else %}No example was rejected.{% endif %}


Writer: {{ writer }}.{% if versions %} Built with{% for key, value in versions %} {{ key }} {{ value }}{{ "," if not loop.last else "." }}{% endfor %}{% endif %}{% if fingerprint %} Recipe fingerprint `{{ fingerprint }}`.{% endif %}


<details><summary>The recipe (from build_report.json)</summary>

```yaml
{{ recipe_yaml }}
```

</details>

## Voices

| voice | used for | examples | engine | licence |
|---|---|---|---|---|
{% for row in voices %}
| `{{ row.name }}` | {{ row.role }} | {{ row.count }} | {{ row.engine | cell }} | {{ row.license | cell }} |
{% endfor %}

## Licences

This dataset: **{{ license_text }}**. {{ license_explanation }}

{% for note in license_notes %}
- {{ note }}
{% endfor %}

## Limitations

- The speech is synthetic: {{ instruction_voice_count }} TTS voice(s) for questions and one for answers. A model trained
  only on it may not generalise to real recorded voices, accents, noise or spontaneous speech.
- Answers were written by {{ writer_short }}; they can be wrong, and were not checked by people.
- Language: {{ languages }}.

## Citation

```bibtex
{{ citation }}
```
'''

SPACE_CARD_TEMPLATE = '''\
# {{ title }}

{% if body %}
{{ body }}
{% else %}
Talk to a [LLaMA-Omni]({{ paper_url }}) speech assistant: ask a question with your microphone and hear the answer
while it is being generated (text and speech stream out together).

{% if models %}
Model{{ "s" if models | length > 1 else "" }}: {% for m in models %}[{{ m }}](https://huggingface.co/{{ m }}){{ ", " if not loop.last else "." }}{% endfor %}

{% endif %}
Built with Gradio {{ sdk_version }} and llama-omni-hf.
{% endif %}
'''

__all__ = [
    "CONVERTED_CARD_TEMPLATE",
    "DATASET_CARD_TEMPLATE",
    "MODEL_CARD_TEMPLATE",
    "MODEL_USAGE_TEMPLATE",
    "SPACE_CARD_TEMPLATE",
]

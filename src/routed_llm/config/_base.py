"""The strict base model every config section shares: unknown keys are errors, values frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    # use_attribute_docstrings: the docstring under each field becomes its description, which the
    # generated config reference in README (routed_llm.config_reference) prints; one text, no drift.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

"""Fuzz every endpoint in the server's own /openapi.json with schemathesis: valid and invalid
bodies, path values and numbers, each answered without a 5xx and as the spec documents."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from schemathesis.checks import not_a_server_error
from tests.sidecar_process import b64, sidecar_fixture, speech_clip

EXAMPLES_PER_OPERATION_AND_MODE = 60  # about 360 requests in all

sidecar = sidecar_fixture("--max-queue", "1000")


@pytest.fixture(scope="module")
def schema(sidecar):
    return schemathesis.openapi.from_url(f"{sidecar.url}/openapi.json", headers=sidecar.auth)


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_the_spec_lists_every_endpoint(schema):
    labels = {op.label for op in operations(schema)}
    assert labels == {"GET /v1/health", "POST /v1/jobs", "GET /v1/jobs/{job_id}", "GET /v1/jobs/{job_id}/result",
                      "DELETE /v1/jobs/{job_id}"}


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_server_errors(sidecar, schema, mode):
    real_audio = b64(speech_clip(1.0))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode is schemathesis.GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)
    positive = mode is schemathesis.GenerationMode.POSITIVE
    for operation in operations(schema):
        @settings(max_examples=EXAMPLES_PER_OPERATION_AND_MODE, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode), with_real_audio=st.booleans())
        def fuzz(case, with_real_audio):
            # Random base64 is never a sound file; with a real one the fuzzer reaches the
            # checks that need the audio (frames against its length, existing curves). Only for
            # valid bodies: in an invalid one the audio may be the part meant to be wrong.
            if with_real_audio and positive and isinstance(case.body, dict) and isinstance(case.body.get("audio"), str):
                case.body["audio"] = real_audio
            case.call_and_validate(base_url=sidecar.url, headers=sidecar.auth, checks=checks, timeout=120)

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing to make invalid: health takes no input, and a job id is any string.
            assert mode is schemathesis.GenerationMode.NEGATIVE and not len(operation.body), operation.label
    with sidecar.client() as client:
        assert client.get("/v1/health").status_code == 200

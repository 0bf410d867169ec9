"""Fuzz every endpoint in the server's own /openapi.json with schemathesis: valid and invalid
bodies, path values and numbers, each answered without a 5xx and as the spec documents; and
stateful runs that follow the spec's links from a job created with real audio to its status,
result and cancel, so the fuzzer reaches live jobs rather than 404s."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from schemathesis.checks import not_a_server_error
from tests.sidecar_process import b64, sidecar_fixture, speech_clip, wait_for

EXAMPLES_PER_OPERATION_AND_MODE = 60  # about 360 requests in all
STATEFUL_RUNS = 40
STATEFUL_STEPS = 8
MAX_FUZZED_STEPS = 4  # sampler steps of a fuzzed job: enough to run for real, short enough to finish

sidecar = sidecar_fixture("--max-queue", "1000")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def schema(sidecar):
    return schemathesis.openapi.from_url(f"{sidecar.url}/openapi.json", headers=sidecar.auth)


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_the_spec_lists_every_endpoint(schema):
    labels = {op.label for op in operations(schema)}
    assert labels == {"GET /v1/health", "POST /v1/jobs", "GET /v1/jobs/{job_id}", "GET /v1/jobs/{job_id}/result",
                      "DELETE /v1/jobs/{job_id}", "POST /v1/style"}


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_server_errors(sidecar, schema, mode):
    real_audio = b64(speech_clip(1.0))
    checks = list(CHECKS)
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


def test_stateful_runs_reach_live_jobs(sidecar, schema):
    real_audio = b64(speech_clip(1.0))
    answered: Counter = Counter()

    class JobRuns(schema.as_state_machine()):
        def before_call(self, case):
            label = case.operation.label
            if label == "POST /v1/jobs" and isinstance(case.body, dict):
                case.body["audio"] = real_audio  # generated base64 is never a sound file
                if isinstance(case.body.get("steps"), int):
                    case.body["steps"] = min(case.body["steps"], MAX_FUZZED_STEPS)
                else:
                    case.body["steps"] = MAX_FUZZED_STEPS

        def get_call_kwargs(self, case):
            return {"base_url": sidecar.url, "headers": sidecar.auth, "timeout": 120}

        def after_call(self, response, case):
            super().after_call(response, case)
            answered[case.operation.label, response.status_code] += 1
            if case.operation.label == "POST /v1/jobs" and response.status_code == 202:
                # Each job runs to its end before the next call, so every later answer about it
                # (status, result, cancel) is the same whenever Hypothesis replays the run: a
                # run whose answers hang on timing makes its link bundles differ between replays,
                # which Hypothesis refuses as flaky data generation.
                with sidecar.client() as client:
                    wait_for(client, response.json()["id"])

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    JobRuns.run(settings=settings(max_examples=STATEFUL_RUNS, stateful_step_count=STATEFUL_STEPS, deadline=None,
                                  database=None, derandomize=True, suppress_health_check=list(HealthCheck)))
    # The runs reached live jobs with real audio: polled, finished and forgotten ones (cancelling a
    # running job is tested in test_api.py, where its timing is controlled).
    assert answered["POST /v1/jobs", 202] >= 5, answered
    assert answered["GET /v1/jobs/{job_id}", 200] >= 5, answered
    assert answered["GET /v1/jobs/{job_id}/result", 200] >= 1, answered
    assert answered["DELETE /v1/jobs/{job_id}", 200] >= 1, answered
    assert not any(code >= 500 for _, code in answered), answered
    with sidecar.client() as client:
        assert client.get("/v1/health").status_code == 200

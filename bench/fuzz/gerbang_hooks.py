"""Schemathesis hooks for bench/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

The run holds one administrator's token. Resetting that administrator's own second factors or
ending their own session is allowed and revokes the token, after which every later request stops
at the door (401) and the rest of the run tests nothing. Requests of those kinds aimed at the
administrator's own account (FUZZ_ADMIN_ID) go to an unknown id instead; every other request,
including other self-directed ones (the server refuses a change of one's own status), is sent
as generated.
"""
import os

import schemathesis

ADMIN_ID = os.environ.get("FUZZ_ADMIN_ID", "")
ELSEWHERE = "00000000-0000-4000-8000-000000000000"
REVOKING = ("/factor-reset", "/sessions/{sid}", "/role-assignments")


@schemathesis.hook
def before_call(context, case, **kwargs):
    if not ADMIN_ID or not case.path.endswith(REVOKING):
        return
    params = case.path_parameters or {}
    for name, value in params.items():
        if value == ADMIN_ID:
            params[name] = ELSEWHERE
    if isinstance(case.body, dict):
        for name, value in case.body.items():
            if value == ADMIN_ID:
                case.body[name] = ELSEWHERE

#!/bin/bash
# The function's handler in a streaming deployment. The AWS Lambda Web Adapter layer
# (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this script, waits for GET /health to answer, then relays
# each API Gateway event to the app as HTTP and streams the app's answer back (AWS_LWA_INVOKE_MODE).
# Dependencies are in the layer (/opt/python); the code is here ($LAMBDA_TASK_ROOT).
PATH=$PATH:$LAMBDA_TASK_ROOT/bin \
PYTHONPATH=$LAMBDA_TASK_ROOT:/opt/python:$PYTHONPATH \
exec python -m uvicorn --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" --no-access-log \
    --timeout-keep-alive 60 llmcache.asgi:app

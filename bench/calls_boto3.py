"""The boto3 client of the call benchmarks.

    /usr/bin/python3 bench/calls_boto3.py SPEC ENDPOINT ROUNDS

Does what bench/calls.lua does, with boto3: one client per service, each
made with endpoint_url=ENDPOINT, then the request list of SPEC sent ROUNDS
times in this one process. With ROUNDS 0 it only imports boto3 and makes
the clients. Prints one JSON line: {"calls": N, "loop_seconds": S}.
"""

import json
import sys
import time

import boto3


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: python3 bench/calls_boto3.py SPEC ENDPOINT ROUNDS")
    spec_path, endpoint, rounds = argv[1], argv[2], int(argv[3])
    with open(spec_path, encoding="utf-8") as f:
        requests = json.load(f)
    session = boto3.session.Session(region_name="eu-west-1")
    clients = {}
    for r in requests:
        if r["service"] not in clients:
            clients[r["service"]] = session.client(r["service"], endpoint_url=endpoint)
    methods = [getattr(clients[r["service"]], r["operation"]) for r in requests]

    task_arns = []
    calls = 0
    started = time.monotonic()
    for _ in range(rounds):
        for method, r in zip(methods, requests):
            params = {k: (task_arns if v == "@taskArns" else v) for k, v in r["params"].items()}
            output = method(**params)
            if r["operation"] == "list_tasks":
                task_arns = output["taskArns"]
            calls += 1
    elapsed = time.monotonic() - started
    print(json.dumps({"calls": calls, "loop_seconds": elapsed}))


if __name__ == "__main__":
    main(sys.argv)

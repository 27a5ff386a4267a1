#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into corpus/TARGET/.

Sources: the adapters' golden fixtures (plugins/adapters/*/fixtures), answers of
`switchyard mock-upstream` in each provider's wire format (seeds/, recorded
with curl; see README.md), and request bodies of the host's tests. An adapter
seed is `[mode, status, seed] + bytes` (see src/lib.rs): mode 0 response,
1 stream, 2 error; status index 0 is 200.
"""
import hashlib, json, os, re, struct, sys

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)
STATUS = {200: 0, 400: 4, 401: 5, 403: 6, 404: 7, 408: 8, 413: 9, 422: 10, 429: 11, 500: 12, 503: 13, 504: 14, 529: 15}


def put(target, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def status_of(name):
    m = re.search(r"(\d{3})", name)
    if m and int(m.group(1)) in STATUS:
        return STATUS[int(m.group(1))]
    if "429" in name or "rate" in name or "throttl" in name:
        return STATUS[429]
    if "overloaded" in name or "unavailable" in name:
        return STATUS[503]
    if "not_found" in name or "deployment" in name:
        return STATUS[404]
    if "access" in name or "api_key" in name or "permission" in name:
        return STATUS[403]
    if "timeout" in name or "deadline" in name:
        return STATUS[504]
    if "internal" in name:
        return STATUS[500]
    return STATUS[400]


def adapter_seeds(target, fixture_dirs, prefixes):
    for d in fixture_dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.startswith("request"):
                continue
            data = read(os.path.join(d, name))
            if name.startswith("error"):
                put(target, bytes([2, status_of(name), 0]) + data)
                put(target, bytes([0, 0, 0]) + data)  # an error body with a 200
            elif name.startswith("stream"):
                for seed in (0, 7, 200):
                    put(target, bytes([1, 0, seed]) + data)
            else:
                put(target, bytes([0, 0, 0]) + data)
    seeds = os.path.join(ROOT, "seeds")
    for name in sorted(os.listdir(seeds)):
        if not any(name.startswith(p) for p in prefixes):
            continue
        data = read(os.path.join(seeds, name))
        if "_err" in name:
            put(target, bytes([2, STATUS[429], 0]) + data)
            put(target, bytes([0x82, STATUS[429], 0]) + b"3\n" + data)
        elif "_stream" in name:
            for seed in (0, 7, 200):
                put(target, bytes([1, 0, seed]) + data)
        else:
            put(target, bytes([0, 0, 0]) + data)


def bedrock_structured():
    """Structured-frame seeds (mode bit 5) from stream_events.json."""
    kinds = ["messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop",
             "messageStop", "metadata"]
    path = os.path.join(REPO, "plugins", "adapters", "bedrock", "fixtures", "stream_events.json")
    events = json.loads(read(path))
    segs = []
    for e in events:
        if e["event"] in kinds:
            payload = json.dumps(e["payload"], ensure_ascii=False).encode()
            segs.append(bytes([kinds.index(e["event"])]) + payload)
    put("adapter_bedrock", bytes([0x21, 0, 0]) + b"\0".join(segs))
    put("adapter_bedrock", bytes([0x21, 0, 9]) + b"\0".join(segs[:3] + [bytes([8]) + b'{"message":"slow down"}']))


def ingress_seeds():
    """Request bodies of the host's tests (raw string literals b r#"…"#)."""
    for target, files in (("ingress_openai", ["host/src/ingress/openai.rs"]),
                          ("ingress_anthropic", ["host/src/ingress/anthropic.rs"])):
        for f in files:
            text = read(os.path.join(REPO, f)).decode()
            for m in re.finditer(r'br#"(.*?)"#', text, re.S):
                put(target, m.group(1).encode())
    openai = [
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}, {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}],
         "stop": "x", "tool_choice": "auto", "response_format": {"type": "json_object"}, "n": 1},
        {"model": "m", "messages": [{"role": "function", "name": "f", "content": "1"}], "functions": [], "x": {"y": [1, 2.5e300, None, True]}},
    ]
    for o in openai:
        put("ingress_openai", json.dumps(o).encode())
    anthropic = [
        {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "claude", "max_tokens": 10, "system": [{"type": "text", "text": "s"}], "top_k": 3,
         "stop_sequences": ["x"], "metadata": {"user_id": "u"}, "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
         "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
         "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
                      {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "r"}], "is_error": True}, {"type": "document", "source": {}}]}]},
    ]
    for o in anthropic:
        put("ingress_anthropic", json.dumps(o).encode())


def main():
    P = os.path.join(REPO, "plugins", "adapters")
    adapter_seeds("adapter_openai", [os.path.join(P, "azure-openai", "fixtures")], ["openai_"])
    adapter_seeds("adapter_azure_openai", [os.path.join(P, "azure-openai", "fixtures")], ["azure_", "openai_"])
    adapter_seeds("adapter_anthropic", [os.path.join(P, "anthropic", "fixtures")], ["anthropic_"])
    adapter_seeds("adapter_gemini", [os.path.join(P, "gemini", "fixtures")], ["gemini_"])
    adapter_seeds("adapter_bedrock", [], ["bedrock_"])
    # Bedrock's JSON fixtures: responses and errors (stream_events.json is
    # the structured seed).
    d = os.path.join(P, "bedrock", "fixtures")
    for name in sorted(os.listdir(d)):
        data = read(os.path.join(d, name))
        if name.startswith("error"):
            put("adapter_bedrock", bytes([2, status_of(name), 0]) + data)
        elif name.startswith("response"):
            put("adapter_bedrock", bytes([0, 0, 0]) + data)
    bedrock_structured()
    ingress_seeds()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Calls Generate and GenerateStream with grpcio (Debian python3-grpcio) against a running
Phalanx server. Stubs are generated into a scratch folder at test time with Debian's protoc
3.21 and grpc_python_plugin: the protoc 3.5 bundled in python3-grpc-tools predates proto3
`optional` fields. Exits non-zero on any mismatch."""
import importlib
import os
import subprocess
import sys
import tempfile


def main():
    target, proto_root = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp(prefix="phx_py_stubs_")
    subprocess.run(["protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_out={out}",
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    "phalanx/v1/generate.proto"], check=True, cwd=proto_root)
    sys.path.insert(0, out)
    import grpc
    pb = importlib.import_module("phalanx.v1.generate_pb2")
    pb_grpc = importlib.import_module("phalanx.v1.generate_pb2_grpc")

    stub = pb_grpc.GenerationStub(grpc.insecure_channel(target))
    req = pb.GenerateRequest(text="Once upon a time", max_tokens=24, ignore_eos=True,
                             sampling=pb.SamplingParams(temperature=0.0))
    unary = stub.Generate(req, timeout=60)
    assert unary.usage.completion_tokens == 24, unary.usage
    assert unary.finish_reason == pb.FINISH_REASON_LENGTH, unary.finish_reason
    assert len(unary.tokens) == 24 and unary.text, unary
    streamed, last = "", None
    for msg in stub.GenerateStream(req, timeout=60):
        streamed += msg.text
        last = msg
    assert streamed == unary.text, (streamed, unary.text)
    assert last.finish_reason == pb.FINISH_REASON_LENGTH and last.usage.completion_tokens == 24
    # An invalid request is INVALID_ARGUMENT naming the field.
    try:
        stub.Generate(pb.GenerateRequest(text="hi", sampling=pb.SamplingParams(top_p=2.0)),
                      timeout=10)
        raise AssertionError("invalid top_p accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "top_p" in e.details(), e
    info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
    assert info.architecture == "llama" and info.vocab_size > 0
    print("python client OK:", repr(unary.text[:60]))


if __name__ == "__main__":
    main()

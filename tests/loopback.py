"""A loopback HTTP server with Range support serving tiny dataset files that the tests build (MNIST here;
SVHN and CIFAR-10 in test_data_torchvision_files.py). No machine here reaches the internet."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import struct
import threading

import numpy as np

from engine.data import download as dl


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges: list[str] = []

    def log_message(self, *a):
        pass

    def do_GET(self):  # noqa: N802
        name = self.path.rsplit("/", 1)[-1]
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        start = 0
        if rng:
            self.ranges.append(rng)
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


def _idx_images(n: int) -> bytes:
    rng = np.random.default_rng(0)
    return struct.pack(">IIII", 2051, n, 28, 28) + rng.integers(0, 256, (n, 28, 28), dtype=np.uint8).tobytes()


def _idx_labels(n: int) -> bytes:
    return struct.pack(">II", 2049, n) + (np.arange(n) % 10).astype(np.uint8).tobytes()


def serve(files: dict[str, bytes], folder: str = "files"):
    """Serve ``files`` (name -> bytes) at http://127.0.0.1:PORT/FOLDER/NAME; yields (url, handler class)."""
    handler = type("H", (_RangeHandler,), {"files": files, "ranges": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{folder}/", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def mnist_server():
    raw = {"train-images-idx3-ubyte": _idx_images(300), "train-labels-idx1-ubyte": _idx_labels(300),
           "t10k-images-idx3-ubyte": _idx_images(20), "t10k-labels-idx1-ubyte": _idx_labels(20)}
    files = {k + ".gz": gzip.compress(v, mtime=0) for k, v in raw.items()}
    for url, handler in serve(files, "mnist"):
        spec = dl.DatasetFiles("MNIST", (url,), "MNIST/raw",
                               tuple(dl.Resource(k, md5(v), "gunzip") for k, v in files.items()))
        yield url, spec, handler

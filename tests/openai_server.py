"""An OpenAI-compatible chat completions server on 127.0.0.1, backed by a model that transformers loads from a
folder (the tests' tiny judge): what `evaluate --judge-url` talks to, as it would to vLLM or OpenAI. It keeps every
request and the completions it sent, for the tests to check."""

import http.server
import json
import threading

from scifig_tools.serve import BackgroundServer


class ChatServer(BackgroundServer):

    def __init__(self, model_folder, seed=0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(seed)
        self.tokenizer = AutoTokenizer.from_pretrained(model_folder)
        self.model = AutoModelForCausalLM.from_pretrained(model_folder)
        self.requests, self.completions = [], []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def complete(self, body):
        """The completions of one request, as the model samples them."""
        inputs = self.tokenizer.apply_chat_template(body["messages"], add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
        with self._lock:  # one generation at a time: the model is shared
            outputs = self.model.generate(**inputs, do_sample=True, temperature=float(body.get("temperature", 1)),
                                          top_p=float(body.get("top_p", 1)), max_new_tokens=body.get("max_tokens", 16),
                                          num_return_sequences=body.get("n", 1),
                                          pad_token_id=self.tokenizer.pad_token_id)
        texts = self.tokenizer.batch_decode(outputs[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        with self._lock:
            self.requests.append(body)
            self.completions.append(texts)
        return texts



class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        texts = self.server.complete(body)
        reply = json.dumps({
            "id": f"chatcmpl-{len(self.server.requests)}", "object": "chat.completion", "created": 0,
            "model": body["model"],
            "choices": [{"index": at, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                        for at, text in enumerate(texts)],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format, *args):
        pass

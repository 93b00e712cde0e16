"""The Python runner of the peer benchmarks: bench/README.md defines the five
workloads, the timing protocol and the output.

    python bench/peers.py <keras-jax|keras-torch|torch> <mlp|convnet|lstm|transformer|resnet20>

with the python of bench/venv.sh. One workload per process, so the peak
resident memory is that workload's. The last stdout line is one JSON object;
everything else goes to stderr.

keras-* are Python Keras 3 on the JAX (compiled train step: jit is the default)
or PyTorch backend (eager), trained with train_on_batch. torch is idiomatic
eager PyTorch with the same layers and parameter shapes (channels-first,
softmax/sigmoid inside the loss).
"""
import atexit
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

FRAMEWORKS = ("keras-jax", "keras-torch", "torch")
BATCH = {"mlp": 128, "convnet": 128, "lstm": 64, "transformer": 32, "resnet20": 64}
PREDICT = ("mlp", "convnet")  # the workloads that also time predict
VOCAB, MAXLEN = 20000, 200
# (framework, workload) -> why it cannot run; printed as the null result.
UNSUPPORTED = {}


def median_time(f, warm, reps):
    """Median seconds of `reps` calls of f after `warm` untimed ones."""
    for _ in range(warm):
        f()
    ts = []
    for _ in range(max(reps, 1)):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def data(workload):
    """(x, y, predict x or None): synthetic, channels-last, made before timing."""
    rng = np.random.default_rng(0)
    n = BATCH[workload]
    k = {"lstm": 2, "transformer": 2}.get(workload, 10)
    y = (np.arange(n) % k).astype(np.int32)
    if workload == "lstm":
        y = y.astype(np.float32).reshape(n, 1)
    if workload in ("lstm", "transformer"):
        return rng.integers(0, VOCAB, (n, MAXLEN), dtype=np.int32), y, None
    sample = {"mlp": (784,), "convnet": (28, 28, 1), "resnet20": (32, 32, 3)}[workload]
    x = rng.random((n,) + sample, dtype=np.float32)
    xp = rng.random((1024,) + sample, dtype=np.float32) if workload in PREDICT else None
    return x, y, xp


# ---------------------------------------------------------------- Keras 3


def keras_model(workload):
    import keras
    from keras import layers, ops

    if workload == "mlp":
        return keras.Sequential([
            keras.Input((784,)),
            layers.Dense(512, activation="relu"),
            layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ])
    if workload == "convnet":
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ])
    if workload == "lstm":
        return keras.Sequential([
            keras.Input((MAXLEN,), dtype="int32"),
            layers.Embedding(VOCAB, 128),
            layers.LSTM(64),
            layers.Dense(1, activation="sigmoid"),
        ])
    if workload == "transformer":
        # The two layers of Keras's "Text classification with Transformer".
        class TransformerBlock(layers.Layer):
            def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
                super().__init__()
                self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
                self.ffn = keras.Sequential(
                    [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
                )
                self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
                self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
                self.dropout1 = layers.Dropout(rate)
                self.dropout2 = layers.Dropout(rate)

            def call(self, inputs):
                attn_output = self.dropout1(self.att(inputs, inputs))
                out1 = self.layernorm1(inputs + attn_output)
                ffn_output = self.dropout2(self.ffn(out1))
                return self.layernorm2(out1 + ffn_output)

        class TokenAndPositionEmbedding(layers.Layer):
            def __init__(self, maxlen, vocab_size, embed_dim):
                super().__init__()
                self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
                self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

            def call(self, x):
                positions = self.pos_emb(ops.arange(start=0, stop=ops.shape(x)[-1], step=1))
                return self.token_emb(x) + positions

        inputs = keras.Input((MAXLEN,), dtype="int32")
        x = TokenAndPositionEmbedding(MAXLEN, VOCAB, 32)(inputs)
        x = TransformerBlock(32, 2, 32)(x)
        x = layers.GlobalAveragePooling1D()(x)
        x = layers.Dropout(0.1)(x)
        x = layers.Dense(20, activation="relu")(x)
        x = layers.Dropout(0.1)(x)
        outputs = layers.Dense(2, activation="softmax")(x)
        return keras.Model(inputs, outputs)
    if workload == "resnet20":
        def conv_bn(x, filters, strides, relu):
            x = layers.Conv2D(filters, 3, strides=strides, padding="same")(x)
            x = layers.BatchNormalization()(x)  # momentum 0.99, epsilon 1e-3
            return layers.ReLU()(x) if relu else x

        inputs = keras.Input((32, 32, 3))
        x = conv_bn(inputs, 16, 1, True)
        for stage, filters in enumerate((16, 32, 64)):
            for block in range(3):
                strides = 2 if stage > 0 and block == 0 else 1
                y = conv_bn(conv_bn(x, filters, strides, True), filters, 1, False)
                if strides != 1:
                    x = layers.Conv2D(filters, 1, strides=strides, padding="same")(x)
                x = layers.ReLU()(layers.Add()([x, y]))
        x = layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    raise ValueError(workload)


def run_keras(workload, warm, reps):
    import keras

    x, y, xp = data(workload)
    model = keras_model(workload)
    loss = "binary_crossentropy" if workload == "lstm" else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    log(f"params: {model.count_params()} ({trainable} trainable)")
    step = median_time(lambda: model.train_on_batch(x, y), warm, reps)
    pred = None
    if xp is not None:
        pred = len(xp) / median_time(lambda: model.predict(xp, batch_size=128, verbose=0), 1, 7)
    return step, pred


# ---------------------------------------------------------------- PyTorch


def torch_model(workload):
    import torch
    from torch import nn
    from torch.nn import functional as F

    if workload == "mlp":
        return nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(),
            nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, 10),
        )
    if workload == "convnet":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10),
        )
    if workload == "lstm":
        class LSTMClassifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(VOCAB, 128)
                self.lstm = nn.LSTM(128, 64, batch_first=True)
                self.dense = nn.Linear(64, 1)

            def forward(self, ids):
                _, (h, _) = self.lstm(self.embedding(ids))
                return self.dense(h[-1])  # the last output

        return LSTMClassifier()
    if workload == "transformer":
        class Attention(nn.Module):
            """Keras's MultiHeadAttention(num_heads, key_dim) as self-attention:
            q/k/v project embed -> heads x key_dim, the output back to embed."""

            def __init__(self, embed_dim, num_heads, key_dim):
                super().__init__()
                self.heads, self.key_dim = num_heads, key_dim
                self.q, self.k, self.v = (nn.Linear(embed_dim, num_heads * key_dim) for _ in range(3))
                self.out = nn.Linear(num_heads * key_dim, embed_dim)

            def forward(self, x):
                b, t, _ = x.shape
                q, k, v = (p(x).view(b, t, self.heads, self.key_dim).transpose(1, 2)
                           for p in (self.q, self.k, self.v))
                a = F.scaled_dot_product_attention(q, k, v)
                return self.out(a.transpose(1, 2).reshape(b, t, self.heads * self.key_dim))

        class TransformerClassifier(nn.Module):
            def __init__(self, embed_dim=32, num_heads=2, ff_dim=32, rate=0.1):
                super().__init__()
                self.token_emb = nn.Embedding(VOCAB, embed_dim)
                self.pos_emb = nn.Embedding(MAXLEN, embed_dim)
                self.att = Attention(embed_dim, num_heads, embed_dim)
                self.ffn = nn.Sequential(
                    nn.Linear(embed_dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, embed_dim)
                )
                self.layernorm1 = nn.LayerNorm(embed_dim, eps=1e-6)
                self.layernorm2 = nn.LayerNorm(embed_dim, eps=1e-6)
                self.dropout = nn.Dropout(rate)
                self.head = nn.Sequential(
                    nn.Dropout(rate), nn.Linear(embed_dim, 20), nn.ReLU(),
                    nn.Dropout(rate), nn.Linear(20, 2),
                )

            def forward(self, ids):
                positions = torch.arange(ids.shape[-1], device=ids.device)
                x = self.token_emb(ids) + self.pos_emb(positions)
                x = self.layernorm1(x + self.dropout(self.att(x)))
                x = self.layernorm2(x + self.dropout(self.ffn(x)))
                return self.head(x.mean(dim=1))

        return TransformerClassifier()
    if workload == "resnet20":
        def conv_bn(cin, cout, stride):
            # Keras's BN momentum 0.99 is PyTorch's 0.01 (the weight of the new batch).
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
            )

        class Block(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.conv1, self.conv2 = conv_bn(cin, cout, stride), conv_bn(cout, cout, 1)
                self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 else nn.Identity()

            def forward(self, x):
                y = self.conv2(F.relu(self.conv1(x)))
                return F.relu(self.shortcut(x) + y)

        blocks = [conv_bn(3, 16, 1), nn.ReLU()]
        cin = 16
        for stage, filters in enumerate((16, 32, 64)):
            for block in range(3):
                blocks.append(Block(cin, filters, 2 if stage > 0 and block == 0 else 1))
                cin = filters
        return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    raise ValueError(workload)


def run_torch(workload, warm, reps):
    import torch
    from torch import nn

    x, y, xp = data(workload)
    if x.ndim == 4:  # NHWC -> NCHW, PyTorch's layout
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if xp is not None:
            xp = np.ascontiguousarray(xp.transpose(0, 3, 1, 2))
    x = torch.from_numpy(x).long() if x.dtype == np.int32 else torch.from_numpy(x)
    if workload == "lstm":
        y, loss_fn = torch.from_numpy(y), nn.BCEWithLogitsLoss()
    else:
        y, loss_fn = torch.from_numpy(y).long(), nn.CrossEntropyLoss()
    model = torch_model(workload)
    log(f"params: {sum(p.numel() for p in model.parameters())}")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)  # Keras's epsilon

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    step = median_time(train_step, warm, reps)
    pred = None
    if xp is not None:
        xp = torch.from_numpy(xp)

        @torch.no_grad()
        def predict():
            # Keras's predict: batches of 128, probabilities out, gathered.
            return torch.cat([model(b).softmax(-1) for b in xp.split(128)]).numpy()

        model.eval()
        pred = len(xp) / median_time(predict, 1, 7)
        model.train()
    return step, pred


# ---------------------------------------------------------------- main


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in FRAMEWORKS or sys.argv[2] not in BATCH:
        log(f"usage: peers.py <{'|'.join(FRAMEWORKS)}> <{'|'.join(BATCH)}>")
        sys.exit(2)
    framework, workload = sys.argv[1], sys.argv[2]
    warm = int(os.environ.get("BENCH_WARM", 3))
    reps = int(os.environ.get("BENCH_REPS", 15))

    # Only the JSON line goes to stdout: whatever else writes to fd 1 (Python
    # or native code) lands on stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    if framework.startswith("keras-"):
        os.environ["KERAS_BACKEND"] = framework.split("-", 1)[1]
        home = tempfile.mkdtemp(prefix="peers-keras-")  # never ~/.keras
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["KERAS_HOME"] = home
        import keras

        if framework == "keras-jax":
            import jax

            version, threads = f"keras {keras.__version__}, jax {jax.__version__}", os.cpu_count()
        else:
            import torch

            version = f"keras {keras.__version__}, torch {torch.__version__.split('+')[0]}"
            threads = torch.get_num_threads()
        run = run_keras
    else:
        import torch

        version, threads = f"torch {torch.__version__.split('+')[0]}", torch.get_num_threads()
        run = run_torch

    result = {"framework": framework, "version": version, "workload": workload}
    if (framework, workload) in UNSUPPORTED:
        result.update(step_ms=None, note=UNSUPPORTED[framework, workload])
    else:
        step, pred = run(workload, warm, reps)
        log(f"{framework} {workload}: train step {step * 1e3:.2f} ms"
            + (f", predict {pred:.0f} samples/s" if pred else ""))
        result.update(
            batch=BATCH[workload],
            step_ms=round(step * 1e3, 3),
            predict_samples_per_s=None if pred is None else round(pred, 1),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            threads=threads,
            note="",
        )
    print(json.dumps(result), file=out, flush=True)


if __name__ == "__main__":
    main()

"""Every kernel through the binding (and a layer, a language-model step) for valgrind.

    valgrind --suppressions=tests/valgrind/ld.supp --error-exitcode=3 \
        python tests/valgrind/kernels.py

memcheck sees the binding's checks, the NumPy buffers it hands to C and the kernels
together (tests/test_c_kernels.py runs the C kernels alone under valgrind, with a plain
BLAS). About 20 s; tests/test_valgrind_binding.py runs it when FASTRNN_VALGRIND=1.
"""

import numpy as np

import fastrnn
from fastrnn import optim, training

rng = np.random.default_rng(0)
T, B, D, H, K = 5, 3, 4, 6, 7


def normal(*shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


for dtype in (np.float32, np.float64):
    x = normal(T, B, D, dtype=dtype)
    for nonlinearity in ("tanh", "relu"):
        s, cache = fastrnn.rnn_forward(x, None, normal(H, D, dtype=dtype),
                                       normal(H, H, dtype=dtype), normal(H, dtype=dtype),
                                       nonlinearity=nonlinearity)  # fmt: skip
        for window in (None, 1):
            fastrnn.rnn_backward(np.ones_like(s), cache, truncate=window)
    s, c, cache = fastrnn.lstm_forward(x, None, None, normal(4 * H, D, dtype=dtype),
                                       normal(4 * H, H, dtype=dtype))  # fmt: skip
    for window in (None, 1):
        fastrnn.lstm_backward(np.ones_like(s), cache, dc=np.ones_like(c), truncate=window)
    bias = normal(3 * H, dtype=dtype)
    s, cache = fastrnn.gru_forward(x, None, normal(3 * H, D, dtype=dtype),
                                   normal(3 * H, H, dtype=dtype), bias, bias)  # fmt: skip
    for window in (None, 1):
        fastrnn.gru_backward(np.ones_like(s), cache, truncate=window)
    # inference without the gates, and full BPTT, in several chunks of steps (T*B > 512)
    long_x = normal(200, B, D, dtype=dtype)
    U4, W4 = normal(4 * H, D, dtype=dtype), normal(4 * H, H, dtype=dtype)
    fastrnn.lstm_forward(long_x, None, None, U4, W4, need_cache=False)
    long_s, _, cache = fastrnn.lstm_forward(long_x, None, None, U4, W4)
    fastrnn.lstm_backward(np.ones_like(long_s), cache)
    U3, W3 = normal(3 * H, D, dtype=dtype), normal(3 * H, H, dtype=dtype)
    fastrnn.gru_forward(long_x, None, U3, W3, need_cache=False)
    long_s, cache = fastrnn.gru_forward(long_x, None, U3, W3)
    fastrnn.gru_backward(np.ones_like(long_s), cache)
    ids = rng.integers(0, K, (T, B))
    e = fastrnn.embedding_forward(ids, normal(H, K, dtype=dtype))
    fastrnn.embedding_backward(e, ids, K)
    V = normal(K, H, dtype=dtype)
    fastrnn.softmax_forward(s, V)
    fastrnn.softmax_loss(s, V, normal(K, dtype=dtype), ids, ids % 2)
    layer = fastrnn.LSTM(D, H, 2, dtype=dtype, bidirectional=True, seed=0)
    out, _ = layer(x, None, [T, 2, 1])
    layer.backward(np.ones_like(out))
    model = fastrnn.RNNLM(K, H, 2, dtype=dtype, seed=0)
    tokens = rng.integers(0, K, 200)
    trainer = training.Trainer(model, optim.Adam(model.params), tokens, seq_length=8,
                               batch_size=3)  # fmt: skip
    trainer.train_step()
    model.sample([1, 2], 5, seed=0)
    for cell in ("lstm", "gru"):  # generation in one C call (issue 7), top_k too
        fastrnn.RNNLM(K, H, 2, cell=cell, dtype=dtype, seed=0).sample([1, 2], 5, top_k=3, seed=0)
print("every kernel ran")

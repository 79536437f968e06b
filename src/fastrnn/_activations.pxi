# Included by _kernels.pyx: the vectorized elementwise functions (csrc/activations.c),
# exposed so that tests can compare them with NumPy's.


def elementwise(str function, const floating[::1] a):
    """A copy of a with the kernels' vectorized tanh, sigmoid or exp applied."""
    if function not in ("tanh", "sigmoid", "exp"):
        raise ValueError(f"function must be 'tanh', 'sigmoid' or 'exp'; got {function!r}")
    out = np.array(a, copy=True)
    cdef floating[::1] out_v = out
    cdef int64_t n = out_v.shape[0]
    cdef int code = ("tanh", "sigmoid", "exp").index(function)
    if n == 0:
        return out
    with nogil:
        if floating is float:
            if code == 0:
                fastrnn_tanh_f32(n, &out_v[0])
            elif code == 1:
                fastrnn_sigmoid_f32(n, &out_v[0])
            else:
                fastrnn_exp_f32(n, &out_v[0])
        else:
            if code == 0:
                fastrnn_tanh_f64(n, &out_v[0])
            elif code == 1:
                fastrnn_sigmoid_f64(n, &out_v[0])
            else:
                fastrnn_exp_f64(n, &out_v[0])
    return out

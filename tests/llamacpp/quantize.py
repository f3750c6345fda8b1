"""llama.cpp's own quantizer (libllama of node-llama-cpp's prebuilt CPU build, through ctypes)
run on a GGUF file: the files users make with llama-quantize, K-quant mixes included.
  python3 quantize.py <node_modules prefix> <in.gguf> <out.gguf> <llama_ftype number>
Also, for the block codecs and quantizers of the SDK:
  python3 quantize.py <prefix> --blocks <ggml type number> <rows> <cols> <in.f32> <out.blocks> <out.f32>
quantizes rows of f32 values with ggml_quantize_chunk (llama.cpp's quantizer, no importance
matrix) and writes the blocks and ggml's dequantization of them."""
import ctypes
import glob
import os
import sys

prefix = sys.argv[1]
libs = glob.glob(os.path.join(prefix, "node_modules", "@node-llama-cpp", "linux-x64", "bins",
                              "linux-x64"))
if not libs:
    sys.exit(f"{prefix}: no node-llama-cpp linux-x64 build")
libdir = libs[0]
ggml_base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)


def lib(stem):
    return ctypes.CDLL(sorted(glob.glob(os.path.join(libdir, stem + "*.so")))[0],
                       mode=ctypes.RTLD_GLOBAL)


if sys.argv[2] == "--blocks":
    gtype, rows, cols = (int(a) for a in sys.argv[3:6])
    src, blocks_out, f32_out = sys.argv[6:9]
    x = (ctypes.c_float * (rows * cols)).from_buffer_copy(open(src, "rb").read())
    ggml_base.ggml_row_size.restype = ctypes.c_size_t
    ggml_base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    row_bytes = ggml_base.ggml_row_size(gtype, cols)
    buf = (ctypes.c_uint8 * (row_bytes * rows))()
    ggml_base.ggml_quantize_init(gtype)
    ggml_base.ggml_quantize_chunk.restype = ctypes.c_size_t
    ggml_base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                              ctypes.c_void_p]
    ggml_base.ggml_quantize_chunk(gtype, x, buf, 0, rows, cols, None)
    open(blocks_out, "wb").write(bytes(buf))

    class Traits(ctypes.Structure):
        _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                    ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                    ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p)]
    ggml_base.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
    to_float = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(
        ggml_base.ggml_get_type_traits(gtype).contents.to_float)
    y = (ctypes.c_float * (rows * cols))()
    to_float(buf, y, rows * cols)
    open(f32_out, "wb").write(bytes(y))
    sys.exit(0)


class Params(ctypes.Structure):  # llama_model_quantize_params (llama.h)
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int),
                ("output_tensor_type", ctypes.c_int), ("token_embedding_type", ctypes.c_int),
                ("allow_requantize", ctypes.c_bool), ("quantize_output_tensor", ctypes.c_bool),
                ("only_copy", ctypes.c_bool), ("pure", ctypes.c_bool),
                ("keep_split", ctypes.c_bool), ("dry_run", ctypes.c_bool),
                ("imatrix", ctypes.c_void_p), ("kv_overrides", ctypes.c_void_p),
                ("tt_overrides", ctypes.c_void_p), ("prune_layers", ctypes.c_void_p),
                ("max_buf_size", ctypes.c_size_t)]


lib("libggml.")
llama = lib("libllama.")
llama.llama_backend_init()
llama.llama_model_quantize_default_params.restype = Params
p = llama.llama_model_quantize_default_params()
p.ftype = int(sys.argv[4])
p.nthread = 2
llama.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Params)]
rc = llama.llama_model_quantize(sys.argv[2].encode(), sys.argv[3].encode(), ctypes.byref(p))
sys.exit(rc)

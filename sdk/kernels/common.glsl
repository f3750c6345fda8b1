// Shared definitions of vkllm kernels.
//
// Binding model: tensors are read through uniform texel buffers (usamplerBuffer) in one of two
// formats, R32G32B32A32_UINT ("texels", 16 bytes) or R32_UINT ("words", 4 bytes), and written
// through storage buffers. llvmpipe turns texel fetches into vector gathers, several times
// faster than its per-lane storage-buffer loads; on GPUs they go through the texture cache.
// Each binding's offset (in 32-bit words) is the first push constant of its slot.
#extension GL_EXT_control_flow_attributes : enable

#define TEXELS(b, name) layout(binding = b) uniform usamplerBuffer name
#define WORDS(b, name) layout(binding = b) uniform usamplerBuffer name
#define OUT_F32(b, name) layout(binding = b) buffer name##_buf { float name[]; }
#define OUT_U32(b, name) layout(binding = b) buffer name##_buf { uint name[]; }
#define OUT_VEC4(b, name) layout(binding = b) buffer name##_buf { vec4 name[]; }

uvec4 fetch4(usamplerBuffer s, uint i) { return texelFetch(s, int(i)); }
vec4 fetch4f(usamplerBuffer s, uint i) { return uintBitsToFloat(texelFetch(s, int(i))); }
uint fetch1(usamplerBuffer s, uint i) { return texelFetch(s, int(i)).x; }
float fetch1f(usamplerBuffer s, uint i) { return uintBitsToFloat(texelFetch(s, int(i)).x); }
int fetch1i(usamplerBuffer s, uint i) { return int(texelFetch(s, int(i)).x); }
// Element i of an f16 array that starts at word offset `off`.
float fetch_half(usamplerBuffer s, uint off, uint i) {
  uint w = texelFetch(s, int(off + (i >> 1))).x;
  return unpackHalf2x16((i & 1u) != 0u ? (w >> 16) : w).x;
}
float bf16_lo(uint w) { return uintBitsToFloat(w << 16); }
float bf16_hi(uint w) { return uintBitsToFloat(w & 0xffff0000u); }

// Workgroup width: specialization constant 0 of every kernel (also its local_size_x_id).
// gl_WorkGroupSize is not used because Mesa 22.3's llvmpipe evaluates it before
// specialization (it reads 1).
layout(constant_id = 0) const uint LOCAL_X = 1;
layout(local_size_x_id = 0) in;

// Flat invocation index over a 2-D grid of 1-D workgroups (grids wider than 65535 groups wrap
// into y; see ops::grid_1d).
uint global_index() {
  return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * LOCAL_X +
         gl_LocalInvocationID.x;
}

// Element `i` of a tensor whose dtype is 0 f32, 1 f16, 2 bf16, 3 i32 (as float), read from a
// "words" binding at word offset `off`.
float load_elem(usamplerBuffer s, uint off, uint i, int dtype) {
  if (dtype == 0) return uintBitsToFloat(texelFetch(s, int(off + i)).x);
  if (dtype == 3) return float(int(texelFetch(s, int(off + i)).x));
  uint w = texelFetch(s, int(off + (i >> 1))).x;
  uint h = (i & 1u) != 0u ? (w >> 16) : (w & 0xffffu);
  return dtype == 1 ? unpackHalf2x16(h).x : uintBitsToFloat(h << 16);
}

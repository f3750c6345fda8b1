#pragma once
// What a model-family plugin implements, in C++ (host and plugin are built against the same
// SDK version, which the host checks). A family turns a normalised config.json into ModelInfo
// (so the host can size the KV cache without knowing the family) and loads Models whose
// forward() records a pass over SDK ops.
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sdk/gguf.h"
#include "sdk/gguf_file.h"
#include "sdk/kv_cache.h"
#include "sdk/tensor.h"
#include "sdk/vk/device.h"
#include "sdk/vk/graph.h"

namespace vkllm::plugin {

// How a weight will be used, so the host can pick its device layout.
enum class WeightUse {
  matmul,     // [out, in] for ops::matmul: dense (rows padded) or quantized; a weight of rank
              // > 2 (a convolution kernel [out, c, ...]) is used as [out, c * ...]
  embedding,  // [vocab, dim] for ops::embedding (and, when tied, ops::matmul)
  vector,     // f32, any shape, contiguous (norm weights, biases)
  // A parameter stored [in, out] and used as x @ W (Gemma 3's mm_input_projection_weight): the
  // host transposes it into a matmul weight [out, in].
  matmul_transposed,
};

struct WeightInfo {
  std::string dtype;           // safetensors dtype: F32, F16, BF16, U32, ...
  std::vector<int64_t> shape;  // as stored
  std::string file;
  bool quantized = false;  // an MLX-quantized weight (packed U32 + scales + biases)
};

// The host's view of a checkpoint. Errors name the tensor and the file.
class WeightSource {
 public:
  virtual ~WeightSource();
  virtual bool has(const std::string& name) const = 0;
  virtual std::vector<std::string> names() const = 0;
  virtual WeightInfo info(const std::string& name) const = 0;
  // Uploads a tensor for `use`. matmul/embedding weights may be quantized by the host
  // (--quantize) or come quantized (MLX); `shape` is the logical [rows, cols].
  sdk::Tensor load(const std::string& name, WeightUse use) { return load_rows({name}, use); }
  // Uploads the row-wise concatenation of several tensors as one (fused projections such as
  // Q/K/V). They must agree in dtype, columns and quantization.
  virtual sdk::Tensor load_rows(const std::vector<std::string>& names, WeightUse use) = 0;
  // Reads a tensor on the host as f32 (small tensors: rope tables, norms for folding).
  virtual std::vector<float> read_f32(const std::string& name) = 0;
  // Marks a tensor as intentionally unused (the host warns about tensors never loaded).
  virtual void skip(const std::string& name) = 0;
};

// Image features that replace the embeddings of rows [row, row + n) of a batch.
struct ImageRows {
  sdk::Tensor features;  // f32 [n, hidden]
  int64_t row = 0;
};

// One forward pass over T tokens of one or more sequences (continuous batching): the rows of
// each sequence are consecutive, in the order of kv->parts. Per-token tensors mix sequences;
// the KV step and the spans say which rows belong to which. Only attention looks across rows.
struct Batch {
  sdk::Tensor tokens;     // i32 [T]
  sdk::Tensor positions;  // i32 [position_rows, T] (or [T]): rotary positions
  sdk::Tensor seq_pos;    // i32 [T]: sequence index of each token within its sequence (masks)
  const sdk::KvStep* kv = nullptr;
  sdk::KvCache* cache = nullptr;
  // Logits are wanted for rows [logits_begin, T): the last token when generating, all rows
  // for --logits-out, the last k+1 when verifying speculative drafts ...
  int64_t logits_begin = 0;
  // ... or, when defined, for these rows (i32 [m], in this order): the last row of each
  // sequence that samples in a pass over several.
  sdk::Tensor logits_rows;
  // Vision families: encoded image features placed over their placeholder tokens' embeddings.
  std::vector<ImageRows> images;
  // i32 [n, 2]: [start, end) sequence indexes of the image runs in this batch whose tokens
  // attend to each other (VisionSpec::bidirectional); undefined when there are none. In a pass
  // over several sequences [n, 3]: the third column is the run's part (kv->parts index).
  sdk::Tensor spans;
};

// How the host resizes an image before cutting it into patches.
enum class ImageResize {
  smart,  // Qwen2-VL's smart_resize: both sides multiples of patch * merge, the pixel count
          // within the processor's min/max_pixels, aspect ratio kept
  fixed,  // to image_height x image_width whatever the aspect ratio (SigLIP processors)
  // PixtralImageProcessor's: scaled down (aspect kept, sides floored) until the longer side is
  // at most longest_edge, then each side rounded up to a multiple of patch * merge
  longest_edge,
  // CLIPImageProcessor's: the shorter side to shortest_edge (aspect kept, the longer side
  // truncated), then the centre image_height x image_width (zero-padded where the image is
  // smaller)
  shortest_edge_crop,
  // AnyRes (LLaVA-NeXT's image processor): the grid_pinpoints resolution that keeps the most of
  // the image and wastes the least is filled (aspect kept, centred on black) and cut into tiles
  // of image_height x image_width, after a base image resized to shortest_edge square; each
  // sub-image then as shortest_edge_crop. The patches hold the base image, then the tiles
  // row-major (ImagePatches::tiles), and the image's tokens are the base's, then the tiles'
  // features with the padding's rows and columns removed and, with image_newline, one more token
  // per row (nn::anyres_tokens).
  anyres,
};
// PIL's resampling filters as the Hugging Face processors name them (resample 3 and 2).
enum class Resample { bicubic, bilinear };

// What a vision family asks of the host. The host decodes images, resizes and normalises them
// as the Hugging Face image processor does (sizes, limits and mean/std from
// preprocessor_config.json where it has them), cuts them into patches in merge-window order
// (raster order when merge_size is 1), expands each image's placeholder to its tokens and, with
// mrope, computes M-RoPE positions.
struct VisionSpec {
  int patch_size = 14;
  int temporal_patch_size = 2;  // frames per patch (a still image is repeated)
  int merge_size = 2;           // patches merged per side into one token
  int32_t image_token = -1;     // placeholder id, repeated once per image token
  int32_t vision_start = -1;    // ids around each image's run (-1: none)
  int32_t vision_end = -1;
  bool mrope = false;  // positions are M-RoPE rows (temporal, height, width)
  // The processor's defaults where preprocessor_config.json does not say (its "size",
  // "resample", "image_mean" and "image_std" win; a fixed size must match).
  ImageResize resize = ImageResize::smart;
  Resample resample = Resample::bicubic;
  int image_height = 0, image_width = 0;  // ImageResize::fixed: the size the tower takes
  int longest_edge = 0;                   // ImageResize::longest_edge (size.longest_edge)
  int shortest_edge = 0;  // ImageResize::shortest_edge_crop and anyres (size.shortest_edge)
  // ImageResize::anyres: the (height, width) resolutions an image may be tiled to
  // (image_grid_pinpoints; multiples of the tile size).
  std::vector<std::array<int, 2>> grid_pinpoints;
  // Tokens of each (base) image beyond one per merged patch: +1 for a class token the features
  // keep, -1 when the first patch's feature is dropped (LLaVA's "default" feature selection on a
  // tower without one).
  int extra_tokens = 0;
  bool image_newline = false;  // ImageResize::anyres: a token after each row of tile features
  // Transparent pixels are composited over white (PixtralImageProcessor's convert_to_rgb);
  // otherwise alpha is dropped (PIL's convert("RGB")).
  bool alpha_on_white = false;
  std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP
  std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};
  // Tokens per image: (grid_h / (merge_size * token_pool)) x (grid_w / ...), e.g. Gemma 3's
  // 4x4 average pooling of 64x64 patches into 256 tokens.
  int token_pool = 1;
  // The tokens of one image attend to each other in both directions (causal elsewhere); the
  // host keeps each image's run within one forward pass and passes the runs as Batch::spans.
  bool bidirectional = false;
  // The chat template writes only vision_start's text per image and the processor expands it
  // into text_around + <vision_start> <image_token> x n <vision_end> + text_around before
  // tokenizing (Gemma 3: "\n\n"); the host does the same to prompt text that comes with images.
  bool expand_vision_start = false;
  std::string text_around;
  // The processor can pan and scan (Gemma 3; on when preprocessor_config.json says
  // do_pan_and_scan): a long image also yields 2 to 4 crops, each an image of its own, and its
  // marker becomes pan_scan_intro + marker + pan_scan_crops + the crops' markers joined by spaces.
  bool pan_and_scan = false;
  std::string pan_scan_intro, pan_scan_crops;
  // Pixtral's layout: each row of an image's tokens is followed by row_break, the last row by
  // vision_end instead ([IMG] x w [IMG_BREAK] ... [IMG] x w [IMG_END]); the template writes one
  // image_token per image. These separators belong to the image's run: the features
  // encode_image returns cover them (rows x (columns + 1) rows, separators' embeddings included).
  int32_t row_break = -1;
};

// One preprocessed image: rows are patches in merge-window order (raster with merge_size 1),
// columns (channel, frame, patch_y, patch_x).
struct ModelInfo {
  std::string family;
  int64_t vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int64_t max_context = 0;           // max_position_embeddings
  std::vector<sdk::KvLayerSpec> kv;  // one per layer
  int position_rows = 1;             // 1, or 3 for M-RoPE
  int64_t parameters = 0;            // from the config (embedding counted once when tied)
  std::string dtype;                 // torch_dtype of the checkpoint
  // Device bytes of the temporaries one token of a forward pass holds at the pass's widest
  // point (memory estimates: a prefill chunk of T tokens needs about T times this); 0: unknown.
  int64_t activation_bytes_per_token = 0;
  // Vision families: the same for one patch of an image encode (the tower's widest point); the
  // host multiplies it by the most patches one image may have under the processor's settings.
  int64_t vision_activation_bytes_per_patch = 0;
  // Vision families: what load() will return as Model::vision(), from config.json alone, so the
  // host can size image encodes (and `vkllm inspect` report them) without loading.
  std::optional<VisionSpec> vision;
};

struct ImagePatches {
  std::span<const float> pixels;  // [rows, cols]
  int64_t rows = 0, cols = 0;
  std::array<int, 3> grid_thw{};  // patches along time, height, width (anyres: t sub-images)
  // ImageResize::anyres: tiles per column and per row (grid_thw[0] = 1 + their product) and the
  // image's size before preprocessing (height, width); zero otherwise.
  std::array<int, 2> tiles{};
  std::array<int, 2> original_size{};
};

class Model {
 public:
  virtual ~Model();
  virtual const ModelInfo& info() const = 0;
  // Records the forward pass into g and returns f32 logits [T - logits_begin, vocab] (or
  // [logits_rows, vocab]).
  virtual sdk::Tensor forward(sdk::Graph& g, const Batch& batch) = 0;
  // Vision families: the image spec (null: text only) and the vision tower, which records the
  // encoding of one image and returns its features f32 [tokens, hidden]: rows / (merge *
  // token_pool)^2 + extra_tokens tokens, plus one per row of tokens with VisionSpec::row_break
  // (anyres: nn::anyres_tokens).
  virtual const VisionSpec* vision() const { return nullptr; }
  // The features' rows are the image's tokens in placeholder order.
  virtual sdk::Tensor encode_image(sdk::Graph& g, const ImagePatches& image);
};

// A checkpoint tensor's place in a GGUF file (Family::import_gguf).
struct GgufTensorRef {
  std::string gguf_name;
  // llama.cpp's converter reordered the rows of each of this many heads from rotate_half's
  // layout to interleaved pairs (Llama's q/k): the host puts them back. 0: stored as is.
  int unpermute_heads = 0;
  // Added to every value of a weight the model uses as a vector (Gemma's norms are stored as
  // 1 + w: -1).
  float add = 0.0f;
};

// What a family reads from a GGUF file's metadata: a config.json it loads like any other
// (model_type included), and where each checkpoint tensor it will ask for is stored.
struct GgufImport {
  nlohmann::json config;
  std::map<std::string, GgufTensorRef> tensors;
};

class Family {
 public:
  virtual ~Family();
  // Maps a GGUF file of one of the family's architectures (general.architecture) to a config
  // and tensor names. ModelError naming the key for metadata it cannot use; the default refuses.
  virtual GgufImport import_gguf(const sdk::GgufFile& file) const;
  // Writes the architecture metadata and tensors of a llama.cpp GGUF file (the host adds the
  // tokenizer), tensors stored as `type`. Families without a GGUF mapping keep the default,
  // which refuses.
  virtual void export_gguf(const nlohmann::json& config, WeightSource& weights,
                           sdk::GgufWriter& out, Dtype type) const;
  // config: config.json after the registry's normalisation. Throws ModelError naming the key.
  virtual ModelInfo describe(const nlohmann::json& config) const = 0;
  virtual std::unique_ptr<Model> load(const nlohmann::json& config, WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) = 0;
};

}  // namespace vkllm::plugin

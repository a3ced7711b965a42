/* Found only when libtorch is NOT installed: .cargo/config.toml puts this folder on
 * CPLUS_INCLUDE_PATH, which the compiler searches after libtorch's own include folders.
 * torch-sys's C++ wrapper includes <torch/torch.h> first, so a missing libtorch stops the
 * build here with the command to run instead of an obscure missing-header error. */
#error "libtorch 2.13 is not installed in .libtorch/torch. Install it once with:  bash scripts/setup-libtorch.sh   (CPU-only, ~540 MB; add --cuda for the CUDA-capable build)"

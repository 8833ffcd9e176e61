// The `phalanx` binary: flag parsing for every subcommand. Only this file includes CLI11.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "base/dtype.h"
#include "server/cli/commands.h"
#ifdef PHX_HAVE_SERVER
#include "server/app/serve_config.h"
#include "yaml-cpp/yaml.h"
#endif
#include <algorithm>
#include <cstdlib>
#include <vector>

namespace {

void AddModelCommands(CLI::App& app, int& rc) {
  CLI::App* model =
      app.add_subcommand("model", "Inspect, tokenize with, or synthesize GGUF models");
  model->require_subcommand(1);

  auto* inspect = model->add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  static std::string inspect_path;
  static bool inspect_all = false;
  inspect->add_option("file", inspect_path, "GGUF file")->required();
  inspect->add_flag("--all", inspect_all, "Print every array element");
  inspect->callback([&rc] { rc = phx::cli::ModelInspect(inspect_path, inspect_all); });

  auto* tok = model->add_subcommand("tokenize", "Print the token ids of a text, space-separated");
  static phx::cli::TokenizeOptions topt;
  tok->add_option("file", topt.model, "GGUF file with a tokenizer")->required();
  tok->add_option("--text", topt.text, "Text to tokenize")->required();
  tok->add_flag("--add-special", topt.add_special, "Add BOS/EOS as the vocabulary says");
  tok->add_flag("--parse-special", topt.parse_special, "Turn special-token text into its id");
  tok->add_flag("--pieces", topt.show_pieces, "Also print each token's text on stderr");
  tok->callback([&rc] { rc = phx::cli::ModelTokenize(topt); });

  auto* render = model->add_subcommand(
      "render-chat",
      "Render a chat template (the model's, or --template) on a request's variables");
  static phx::cli::RenderChatOptions ropt;
  render->add_option("--model", ropt.model, "GGUF: its chat template and BOS/EOS texts");
  render->add_option("--template", ropt.tmpl,
                     "Built-in template name or Jinja file (instead of the model's)");
  render
      ->add_option("--request", ropt.request,
                   "JSON file whose top-level keys are the template's variables")
      ->required();
  render->add_option("--now", ropt.now, "Pin strftime_now to YYYY-MM-DDTHH:MM:SS");
  render->add_flag("--ids", ropt.ids, "Print token ids instead (needs --model)");
  render->callback([&rc] { rc = phx::cli::ModelRenderChat(ropt); });

  auto* synth = model->add_subcommand("synth", "Write a GGUF model with random weights");
  static phx::model::SynthOptions so;
  static std::string out, dtype = "f16";
  synth->add_option("--out,-o", out, "Output GGUF path")->required();
  synth
      ->add_option("--arch", so.arch,
                   "llama | qwen2 | qwen3 | gemma2 | gemma3 | phi3 | mixtral | qwen3moe | bert")
      ->capture_default_str();
  synth->add_option("--vocab", so.vocab_from, "GGUF whose tokenizer is copied")->required();
  synth->add_option("--layers", so.n_layer, "Transformer blocks")->capture_default_str();
  synth->add_option("--embd", so.n_embd, "Embedding size")->capture_default_str();
  synth->add_option("--ffn", so.n_ff, "Feed-forward size")->capture_default_str();
  synth->add_option("--heads", so.n_head, "Attention heads")->capture_default_str();
  synth->add_option("--kv-heads", so.n_head_kv, "KV heads (GQA when fewer)")->capture_default_str();
  synth->add_option("--head-dim", so.head_dim, "Head size (0: embd/heads)")->capture_default_str();
  synth->add_option("--rope-dims", so.n_rot, "Rotated dims per head (0: all; phi3 partial)");
  synth->add_option("--ctx", so.context_length, "Training context length")->capture_default_str();
  synth
      ->add_option("--dtype", dtype,
                   "Type of every 2-D weight: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K "
                   "q4_K q5_K q6_K iq4_nl iq4_xs mxfp4")
      ->capture_default_str();
  synth->add_option("--mix", so.mix,
                    "llama.cpp file type whose per-tensor recipe to follow instead of --dtype: "
                    "Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q4_0 Q4_1 "
                    "Q5_0 Q5_1 Q8_0 IQ4_NL IQ4_XS");
  synth->add_flag("--tied", so.tied_output, "Tie the output matrix to the token embedding");
  synth->add_flag("--untied", so.untied_output,
                  "A separate output matrix (gemma3: tied by default)");
  // Family options (written to the metadata keys llama.cpp reads; docs/models.md).
  synth->add_option("--experts", so.n_expert, "expert_count (mixtral, qwen3moe)");
  synth->add_option("--experts-used", so.n_expert_used, "expert_used_count: top-k");
  synth->add_option("--expert-ffn", so.n_ff_expert, "qwen3moe expert_feed_forward_length");
  synth->add_option("--sliding-window", so.sliding_window, "attention.sliding_window (gemma2/3)");
  synth->add_option("--swa-pattern", so.swa_pattern, "Every P-th layer global (gemma2/3)");
  synth->add_option("--rope-scaling", so.rope_scaling, "none | linear | llama3 | yarn | longrope")
      ->capture_default_str();
  synth->add_option("--rope-scaling-factor", so.rope_scaling_factor, "RoPE scaling factor")
      ->capture_default_str();
  synth->add_option("--rope-orig-ctx", so.rope_orig_ctx,
                    "rope.scaling.original_context_length (0: --ctx)");
  synth->add_option("--attn-softcap", so.attn_softcap, "attn_logit_softcapping (gemma2)");
  synth->add_option("--final-softcap", so.final_softcap, "final_logit_softcapping (gemma2/3)");
  synth->add_option("--pooling", so.pooling,
                    "pooling_type written into the metadata: none | mean | cls | last");
  synth->add_option("--rope-base", so.rope_freq_base, "RoPE frequency base")->capture_default_str();
  synth->add_option("--seed", so.seed, "Weight seed")->capture_default_str();
  synth->add_option("--name", so.name, "general.name")->capture_default_str();
  synth->callback([&rc, synth] {
    if (!so.mix.empty() && synth->count("--dtype") > 0) {
      std::fprintf(stderr, "error: give --dtype or --mix, not both\n");
      rc = 2;
      return;
    }
    auto t = phx::ParseDType(dtype);
    if (!t) {
      std::fprintf(stderr, "error: --dtype: unknown type '%s'\n", dtype.c_str());
      rc = 2;
      return;
    }
    so.dtype = *t;
    rc = phx::cli::ModelSynth(so, out);
  });
}

void AddRuntimeFlags(CLI::App* cmd, phx::cli::RuntimeOptions& o) {
  cmd->add_option("--model,-m", o.model, "GGUF model file")->required();
  cmd->add_option("--device", o.device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--threads,-t", o.threads, "CPU threads (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--kv-dtype", o.kv_dtype, "KV cache type: f16 | bf16 (CUDA) | f32 (CPU)")
      ->capture_default_str();
  cmd->add_option("--kv-cache-mb", o.kv_cache_mb, "KV cache size in MiB (CPU)")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-utilization", o.gpu_memory_utilization,
                  "CUDA: fraction of device memory for weights, scratch and the KV cache")
      ->capture_default_str();
  cmd->add_option("--max-batch", o.max_batch, "Sequences per step")->capture_default_str();
  cmd->add_option("--max-tokens-per-step", o.max_tokens_per_step,
                  "Token budget per step (prefill chunk size)")
      ->capture_default_str();
  cmd->add_option("--ctx", o.ctx, "Context length (0: the model's)")->capture_default_str();
}

void AddSamplingFlags(CLI::App* cmd, phx::sampler::SamplingParams& p) {
  cmd->add_option("--max-tokens,-n", p.max_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", p.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", p.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", p.top_p, "1 = off")->capture_default_str();
  cmd->add_option("--min-p", p.min_p, "0 = off")->capture_default_str();
  cmd->add_option("--repeat-penalty", p.repetition_penalty, "1 = off")->capture_default_str();
  cmd->add_option("--presence-penalty", p.presence_penalty)->capture_default_str();
  cmd->add_option("--frequency-penalty", p.frequency_penalty)->capture_default_str();
  cmd->add_option("--seed", p.seed, "Sampling seed (default: random)");
  cmd->add_option("--stop", p.stop, "Stop string (repeatable)");
  cmd->add_flag("--ignore-eos", p.ignore_eos, "Keep generating after end-of-sequence");
}

void AddGenerateCommands(CLI::App& app, int& rc) {
  auto* gen = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  static phx::cli::GenerateOptions go;
  AddRuntimeFlags(gen, go.runtime);
  gen->add_option("--prompt,-p", go.prompt, "Prompt text")->required();
  gen->add_flag("--parse-special", go.parse_special, "Turn special-token text into its id");
  gen->add_flag("--echo", go.echo, "Print the prompt before the completion");
  AddSamplingFlags(gen, go.sampling);
  gen->callback([&rc] {
    go.runtime.max_batch = std::min(go.runtime.max_batch, 8);
    rc = phx::cli::Generate(go);
  });

  auto* bench = app.add_subcommand("bench", "Measure prefill and decode tokens/s");
  static phx::cli::BenchOptions bo;
  AddRuntimeFlags(bench, bo.runtime);
  bench->add_option("--prompt-tokens,-P", bo.prompt_tokens, "Prompt length")->capture_default_str();
  bench->add_option("--gen-tokens,-G", bo.gen_tokens, "Tokens generated")->capture_default_str();
  bench->add_option("--batch,-B", bo.batch, "Concurrent sequences")->capture_default_str();
  bench->add_option("--runs", bo.runs, "Timed runs (median reported)")->capture_default_str();
  bench->add_flag("--json", bo.json, "Print one JSON line");
  bench->callback([&rc] { rc = phx::cli::Bench(bo); });
}

#ifdef PHX_HAVE_SERVER
// `--config FILE`: YAML with flag names as keys (underscores or dashes), e.g. grpc_port: 50051.
class YamlConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items;
    YAML::Node root;
    try {
      root = YAML::Load(input);
    } catch (const YAML::Exception& e) {
      throw CLI::ConversionError(std::string("--config: ") + e.what());
    }
    if (!root.IsMap()) throw CLI::ConversionError("--config: the YAML must be a mapping");
    for (const auto& kv : root) {
      CLI::ConfigItem item;
      item.name = kv.first.as<std::string>();
      std::replace(item.name.begin(), item.name.end(), '_', '-');
      if (kv.second.IsSequence()) {
        for (const auto& v : kv.second) item.inputs.push_back(v.as<std::string>());
      } else {
        item.inputs.push_back(kv.second.as<std::string>());
      }
      items.push_back(std::move(item));
    }
    return items;
  }
};

// `args` (argv) tells flags apart from environment and config-file values.
void AddServeCommands(CLI::App& app, int& rc, std::vector<std::string> args) {
  auto* serve =
      app.add_subcommand("serve", "Serve the model (gRPC, OpenAI HTTP API, probes, metrics)");
  static phx::server::ServeConfig sc;
  auto& c = sc;
  AddRuntimeFlags(serve, c.runtime);
  serve->add_flag("--embeddings", c.runtime.embeddings,
                  "Serve /v1/embeddings and gRPC Embed for a model without pooling_type "
                  "(generation stays on)");
  serve->add_option("--pooling", c.runtime.pooling,
                    "Embedding pooling: mean | cls | last (default: the model's, else last)");
  serve->set_config("--config", "", "YAML configuration file (flags and PHALANX_* env vars win)");
  serve->config_formatter(std::make_shared<YamlConfig>());
  serve->add_option("--host", c.host, "Listen address")->capture_default_str();
  serve->add_option("--grpc-port", c.grpc_port, "gRPC API port")->capture_default_str();
  serve->add_option("--http-port", c.http_port, "Probes and /metrics port")->capture_default_str();
  serve->add_option("--api-port", c.api_port, "OpenAI HTTP API port (0: off)")
      ->capture_default_str();
  serve->add_option("--api-threads", c.api_threads, "API I/O threads (and request threads)")
      ->capture_default_str();
  serve->add_option("--probe-host", c.probe_host, "Probes' listen address (default: --host)");
  serve->add_option("--metrics-host", c.metrics_host, "/metrics listen address (default: --host)");
  serve->add_option("--max-connections", c.max_connections, "Open connections per HTTP listener")
      ->capture_default_str();
  serve->add_option("--header-timeout-s", c.header_timeout_s, "HTTP request head deadline")
      ->capture_default_str();
  serve->add_option("--body-timeout-s", c.body_timeout_s, "HTTP request body deadline")
      ->capture_default_str();
  serve->add_option("--keepalive-timeout-s", c.keepalive_timeout_s, "Idle keep-alive limit")
      ->capture_default_str();
  serve->add_option("--max-header-bytes", c.max_header_bytes, "HTTP request line + headers")
      ->capture_default_str();
  serve->add_option("--max-header-count", c.max_header_count, "HTTP headers per request")
      ->capture_default_str();
  serve
      ->add_option("--max-body-bytes", c.max_body_bytes,
                   "HTTP request body (0: 4 x --max-prompt-bytes + 1 MiB)")
      ->capture_default_str();
  serve
      ->add_option("--stream-buffer-bytes", c.stream_buffer_bytes,
                   "Unread bytes queued per stream before the client is dropped")
      ->capture_default_str();
  serve->add_option("--lb-agent-port", c.lb_agent_port, "HAProxy agent-check port (0: off)")
      ->capture_default_str();
  serve->add_option("--tls-cert", c.tls_cert, "PEM certificate (TLS on gRPC and API ports)");
  serve->add_option("--tls-key", c.tls_key, "PEM private key");
  serve->add_option("--tls-client-ca", c.tls_client_ca,
                    "PEM CA: require client certificates (mTLS)");
  serve->add_option("--api-keys", c.api_keys, "YAML file of API key hashes (SIGHUP reloads)");
  serve
      ->add_option("--max-priority", c.max_priority,
                   "Without --api-keys: highest request priority allowed (keys: max_priority)")
      ->capture_default_str();
  serve->add_flag("--grpc-reflection", c.grpc_reflection, "Serve gRPC server reflection");
  serve->add_option("--rate-limit-rps", c.rate_limit_rps, "Per-key requests/s (0: off)")
      ->capture_default_str();
  serve->add_option("--rate-limit-tpm", c.rate_limit_tpm, "Per-key tokens/min (0: off)")
      ->capture_default_str();
  serve->add_option("--max-inflight", c.max_inflight, "Requests in the engine at once")
      ->capture_default_str();
  serve->add_option("--max-queue", c.max_queue, "Requests waiting for admission")
      ->capture_default_str();
  serve
      ->add_option("--max-grammar-bytes", c.max_grammar_bytes,
                   "Largest structured-output schema, regex or grammar (its compile time grows "
                   "with it)")
      ->capture_default_str();
  serve
      ->add_option("--json-max-whitespace", c.json_max_whitespace,
                   "Structured JSON output: most blanks in a row between JSON tokens (1: compact; "
                   "raise it to let models indent)")
      ->capture_default_str();
  serve->add_option("--max-prompt-bytes", c.max_prompt_bytes, "Largest text prompt")
      ->capture_default_str();
  serve->add_option("--max-prompt-tokens", c.max_prompt_tokens, "Longest prompt (0: ctx - 1)")
      ->capture_default_str();
  serve->add_option("--max-tokens-limit", c.max_tokens_limit, "Largest max_tokens")
      ->capture_default_str();
  serve->add_option("--slo-ttft-ms", c.slo_ttft_ms, "TTFT objective (readiness, goodput)")
      ->capture_default_str();
  serve->add_option("--slo-itl-ms", c.slo_itl_ms, "Inter-token objective (goodput)")
      ->capture_default_str();
  serve->add_option("--slo-e2e-ms", c.slo_e2e_ms, "End-to-end objective (goodput; 0: none)")
      ->capture_default_str();
  serve->add_option("--kv-headroom", c.kv_headroom, "Readiness: minimum free KV fraction")
      ->capture_default_str();
  serve->add_option("--response-cache-mb", c.response_cache_mb, "Degraded-mode cache (0: off)")
      ->capture_default_str();
  serve->add_option("--response-cache-ttl-s", c.response_cache_ttl_s, "Cache entry lifetime")
      ->capture_default_str();
  serve->add_option("--degraded-mode", c.degraded_mode, "cache | off")->capture_default_str();
  serve->add_option("--drain-timeout-s", c.drain_timeout_s, "SIGTERM drain limit")
      ->capture_default_str();
  serve
      ->add_option("--drain-grace-s", c.drain_grace_s,
                   "After SIGTERM, keep admitting new requests this long while readiness, "
                   "gRPC health and the lb agent already say draining (load balancers notice)")
      ->capture_default_str();
  serve->add_option("--step-timeout-s", c.step_timeout_s, "Liveness: longest engine step")
      ->capture_default_str();
  serve->add_option("--canary-interval-s", c.canary_interval_s, "Idle time before a canary forward")
      ->capture_default_str();
  serve->add_option("--audit-log", c.audit_log, "JSON-lines audit log file ('-': stderr)");
  serve->add_flag("--audit-include-text", c.audit_include_text, "Log prompt and output text");
  serve
      ->add_option("--audit-unauth-rps", c.audit_unauth_rps,
                   "Unauthenticated failures audited per second (0: every one)")
      ->capture_default_str();
  serve->add_option("--log-format", c.log_format, "text | json")->capture_default_str();
  serve->add_option("--log-level", c.log_level, "debug | info | warn | error")
      ->capture_default_str();
  serve->add_option("--chat-template", c.chat_template,
                    "Chat template for /v1/chat: a built-in name or a Jinja file (default: the "
                    "model's tokenizer.chat_template)");
  serve
      ->add_option("--reasoning-format", c.reasoning_format,
                   "none | deepseek: a thinking template's <think> block as reasoning_content")
      ->capture_default_str();
  serve
      ->add_option("--reasoning-budget", c.reasoning_budget,
                   "Thinking tokens a request may spend when it names no budget: -1 unlimited, "
                   "0 thinking off, N then the block is closed")
      ->capture_default_str();
  serve->add_flag("--lenient-api", c.lenient_api,
                  "OpenAI API: ignore unknown request fields (counted in "
                  "phalanx_api_ignored_fields_total) instead of answering 400");
  CLI::Option* served_names =
      serve
          ->add_option("--served-model-name", c.served_model_names,
                       "OpenAI API: model names accepted besides the model's own id (repeatable "
                       "or comma-separated; the first is the id reported)")
          ->delimiter(',');
  serve->add_flag("--check-config", c.check_config, "Validate the configuration and exit");
  // Every option also reads PHALANX_<NAME>. A flag given twice takes its last value, so flags
  // appended to a command line override earlier ones (the Helm chart's server.extraArgs and
  // canary.extraArgs, e.g. a canary's --max-batch after the common one).
  for (CLI::Option* o : serve->get_options()) {
    if (o->get_lnames().empty() || o->get_lnames()[0] == "help" || o->get_lnames()[0] == "config") {
      continue;
    }
    o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    std::string env = "PHALANX_" + o->get_lnames()[0];
    std::replace(env.begin(), env.end(), '-', '_');
    std::transform(env.begin(), env.end(), env.begin(), ::toupper);
    o->envname(env);
  }
  served_names->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);  // repeatable
  serve->callback([&rc, serve, args] {
    // Which settings came from a flag or the environment (a SIGHUP reload keeps those).
    for (CLI::Option* o : serve->get_options()) {
      if (o->get_lnames().empty()) continue;
      const std::string name = o->get_lnames()[0];
      std::string key = name;
      std::replace(key.begin(), key.end(), '-', '_');
      const bool from_env = !o->get_envname().empty() && std::getenv(o->get_envname().c_str());
      bool from_flag = false;
      for (const auto& a : args)
        from_flag |= a == "--" + name || a.rfind("--" + name + "=", 0) == 0;
      if (from_env || from_flag) sc.fixed.insert(key);
    }
    if (auto* cfgopt = serve->get_option_no_throw("--config"); cfgopt && cfgopt->count() > 0) {
      sc.config_file = cfgopt->as<std::string>();
    }
    rc = phx::cli::Serve(sc);
  });

  auto* client = app.add_subcommand("client", "Call a Phalanx server over gRPC");
  client->require_subcommand(1);
  static phx::cli::ClientOptions co;
  co.sampling.max_tokens = 64;
  for (const char* mode : {"generate", "stream", "tokenize", "info"}) {
    auto* c = client->add_subcommand(mode, std::string("Call ") + mode);
    c->add_option("--target", co.target, "host:port")->capture_default_str();
    if (std::string(mode) != "info")
      c->add_option("--prompt,-p", co.prompt, "Prompt text")->required();
    if (std::string(mode) == "generate" || std::string(mode) == "stream") {
      AddSamplingFlags(c, co.sampling);
      c->add_flag("--echo", co.echo, "Print the prompt first");
      c->add_option("--request-id", co.request_id, "Client request id");
    }
    c->add_option("--api-key", co.api_key, "API key (Bearer)")->envname("PHALANX_API_KEY");
    c->add_option("--timeout", co.timeout_s, "Deadline in seconds (0: none)");
    c->callback([&rc, mode] {
      co.mode = mode;
      rc = phx::cli::Client(co);
    });
  }
}
#endif

void AddGrammarCommands(CLI::App& app, int& rc) {
  auto* grammar = app.add_subcommand("grammar", "Constrained decoding tools");
  grammar->require_subcommand(1);
  auto* mb = grammar->add_subcommand(
      "maskbench", "MaskBench: compile each schema, check its tests token by token, time masks");
  static phx::cli::MaskbenchOptions mo;
  mb->add_option("--vocab", mo.vocab, "GGUF with the tokenizer (e.g. Llama 3.1)")->required();
  mb->add_option("--json", mo.json, "Write the JSON report to this file ('-': stdout)");
  mb->add_option("--timeout-s", mo.timeout_s, "Per-file time limit")->capture_default_str();
  mb->add_flag("--cpu-clock", mo.cpu_clock,
               "Time masks and compiles in thread CPU time (loaded machines)");
  mb->add_flag("--quiet", mo.quiet, "Do not list failing files on stderr");
  mb->add_option("--times", mo.times,
                 "Write per-file times here (TSV: file, status, compile us, masks, p50/p99/max "
                 "mask us)");
  mb->add_option("files", mo.files, "MaskBench JSON files or directories")->required();
  mb->callback([&rc] { rc = phx::cli::GrammarMaskbench(mo); });
}

void AddPlanCommand(CLI::App& app, int& rc) {
  auto* plan =
      app.add_subcommand("plan", "Replicas needed for a target load (N+1), from bench results");
  static phx::cli::PlanOptions po;
  static double ttft_ms = 0, itl_ms = 0;
  plan->add_option("--target-rps", po.input.target_rps, "Requests per second to serve")->required();
  plan->add_option("--bench", po.bench, "phalanx-bench --json results (a sweep of load levels)")
      ->required();
  plan->add_option("--prompt-tokens", po.input.prompt_tokens, "Typical prompt length (0: bench's)");
  plan->add_option("--gen-tokens", po.input.gen_tokens, "Typical output length (0: bench's)");
  plan->add_option("--slo-ttft", ttft_ms, "p99 time to first token objective, ms (0: none)");
  plan->add_option("--slo-itl", itl_ms, "p99 inter-token latency objective, ms (0: none)");
  plan->add_option("--utilization", po.input.utilization, "Planned fraction of capacity")
      ->capture_default_str();
  plan->add_option("--spare", po.input.spare, "Spare replicas (N+spare)")->capture_default_str();
  plan->callback([&rc] {
    po.input.slo_ttft_s = ttft_ms / 1e3;
    po.input.slo_itl_s = itl_ms / 1e3;
    rc = phx::cli::Plan(po);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Phalanx: a self-contained LLM inference server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "phalanx 0.1.0");
  int rc = 0;
  AddModelCommands(app, rc);
  AddGenerateCommands(app, rc);
  AddPlanCommand(app, rc);
  AddGrammarCommands(app, rc);
#ifdef PHX_HAVE_SERVER
  AddServeCommands(app, rc, std::vector<std::string>(argv, argv + argc));
#endif
  CLI11_PARSE(app, argc, argv);
  return rc;
}

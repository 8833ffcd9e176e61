// phalanx-bench: closed-loop or open-loop load against a Phalanx server over gRPC or the
// OpenAI HTTP API; prints throughput, latency percentiles, errors and goodput.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "CLI/CLI.hpp"
#include "bench/load/load.h"
#include "bench/load/plot.h"
#include "bench/load/workload.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "phalanx/v1/generate.grpc.pb.h"

namespace {

std::atomic<bool> g_stop{false};  // SIGINT/SIGTERM: stop issuing, let in-flight requests finish
void OnStopSignal(int) { g_stop = true; }

// Vocabulary size and BOS from the server (gRPC GetModelInfo), for synthetic prompts.
bool ModelInfo(const std::string& target, int32_t* vocab, int32_t* bos) {
  auto stub = phalanx::v1::Generation::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  phalanx::v1::ModelInfo info;
  if (!stub->GetModelInfo(&ctx, {}, &info).ok()) return false;
  *vocab = info.vocab_size();
  *bos = info.bos_token_id();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"phalanx-bench: load generator for Phalanx servers"};
  std::string protocol = "grpc", target = "localhost:50051", url = "http://localhost:8000";
  std::string model = "phalanx", prompts_file, prompt_len = "128", gen_len = "128";
  std::string sweep, plot, out_json, api_key, samples_path;
  phx::bench::LoadOptions lo;
  phx::bench::RequestOptions ro;
  phx::bench::Slo slo;
  double slo_ttft_ms = 0, slo_itl_ms = 0, slo_e2e_ms = 0;
  int32_t vocab = 0, bos = -2;
  bool json = false, no_stream = false, quiet = false;
  app.add_option("--protocol", protocol, "grpc | http")->capture_default_str();
  app.add_option("--target", target, "gRPC host:port")->capture_default_str();
  app.add_option("--url", url, "HTTP base URL (OpenAI API)")->capture_default_str();
  app.add_option("--model", model, "Model name for the HTTP API")->capture_default_str();
  app.add_option("--concurrency,-c", lo.concurrency, "Closed loop: requests in flight")
      ->capture_default_str();
  app.add_option("--rate,-r", lo.rate, "Open loop: Poisson arrivals per second (overrides -c)");
  app.add_option("--requests,-n", lo.requests, "Requests per run")->capture_default_str();
  app.add_option("--duration", lo.duration_s, "Stop issuing after this many seconds");
  app.add_option("--prompt-tokens", prompt_len, "N or uniform:LO-HI")->capture_default_str();
  app.add_option("--gen-tokens", gen_len, "N or uniform:LO-HI")->capture_default_str();
  app.add_option("--prompts", prompts_file, "JSONL file of {\"prompt\", \"max_tokens\"}");
  app.add_option("--vocab", vocab, "Token id range of synthetic prompts (default: the server's)");
  app.add_flag("--no-stream", no_stream, "Unary / non-streaming requests");
  app.add_option("--temperature", ro.temperature)->capture_default_str();
  app.add_option("--api-key", api_key, "Bearer key")->envname("PHALANX_API_KEY");
  app.add_option("--retries", lo.retries, "Resend on UNAVAILABLE/RESOURCE_EXHAUSTED (429/503)");
  app.add_option("--seed", lo.seed)->capture_default_str();
  app.add_option("--timeout", ro.timeout_s, "Per-request deadline in seconds")
      ->capture_default_str();
  app.add_option("--samples", samples_path,
                 "Write one JSON line per finished request (start: UNIX seconds; e2e, ttft, ok, "
                 "code, retried, stream_broken, output_tokens)");
  app.add_option("--slo-ttft-ms", slo_ttft_ms, "Goodput: time-to-first-token objective");
  app.add_option("--slo-itl-ms", slo_itl_ms, "Goodput: max inter-token gap objective");
  app.add_option("--slo-e2e-ms", slo_e2e_ms, "Goodput: end-to-end objective");
  app.add_option("--sweep", sweep,
                 "Comma-separated concurrencies (or rates with --rate) to run in turn");
  app.add_option("--plot", plot, "Write a latency-vs-load PNG (gnuplot)");
  app.add_flag("--json", json, "Print JSON on stdout");
  app.add_option("--out", out_json, "Also write the JSON to this file");
  app.add_flag("--quiet,-q", quiet, "No progress line");
  CLI11_PARSE(app, argc, argv);
  lo.progress = !quiet;
  lo.stop = &g_stop;
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  std::FILE* samples_file = nullptr;
  std::mutex samples_mu;
  if (!samples_path.empty()) {
    samples_file = std::fopen(samples_path.c_str(), "w");
    if (samples_file == nullptr) {
      std::fprintf(stderr, "error: cannot write %s\n", samples_path.c_str());
      return 2;
    }
    lo.on_sample = [&](const phx::bench::Sample& x, double t0_unix) {
      const nlohmann::json j = {{"start", t0_unix + x.start},
                                {"e2e", x.e2e},
                                {"ttft", x.ttft},
                                {"ok", x.ok},
                                {"code", x.code},
                                {"retried", x.retried},
                                {"stream_broken", x.stream_broken},
                                {"stream", ro.stream},
                                {"output_tokens", x.output_tokens}};
      const std::string line = j.dump() + "\n";
      std::lock_guard<std::mutex> l(samples_mu);
      std::fputs(line.c_str(), samples_file);
      std::fflush(samples_file);  // complete lines even if the tool is killed
    };
  }
  ro.stream = !no_stream;
  ro.api_key = api_key;
  slo = {slo_ttft_ms / 1e3, slo_itl_ms / 1e3, slo_e2e_ms / 1e3};

  auto pdist = phx::bench::ParseLengthDist(prompt_len);
  auto gdist = phx::bench::ParseLengthDist(gen_len);
  if (!pdist.ok() || !gdist.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string((pdist.ok() ? gdist : pdist).status().message()).c_str());
    return 2;
  }
  std::vector<phx::bench::Prompt> prompts;
  if (!prompts_file.empty()) {
    auto p = phx::bench::JsonlPrompts(prompts_file, gdist->hi);
    if (!p.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(p.status().message()).c_str());
      return 2;
    }
    prompts = std::move(*p);
  } else {
    int32_t server_vocab = 0, server_bos = -1;
    if (protocol == "grpc" && ModelInfo(target, &server_vocab, &server_bos)) {
      if (vocab == 0) vocab = server_vocab;
      if (bos == -2) bos = server_bos;
    }
    if (vocab == 0) vocab = 256;
    if (bos == -2) bos = 1;
    prompts = phx::bench::SyntheticPrompts(lo.requests, *pdist, *gdist, vocab, bos, lo.seed);
  }
  std::unique_ptr<phx::bench::Client> client = protocol == "http"
                                                   ? phx::bench::MakeHttpClient(url, model)
                                                   : phx::bench::MakeGrpcClient(target);
  if (!client->Connect(10)) std::fprintf(stderr, "phalanx-bench: not every connection opened\n");
  const std::vector<double> floor_rtt = client->FloorRoundTrips(200, ro);
  const double floor_p50 = phx::bench::Pct(floor_rtt, 50),
               floor_p99 = phx::bench::Pct(floor_rtt, 99);
  if (!json && !floor_rtt.empty()) {
    std::printf("transport floor (empty RPC round trip) p50 %.3f ms p99 %.3f ms\n", floor_p50 * 1e3,
                floor_p99 * 1e3);
  }

  std::vector<double> levels;
  if (sweep.empty()) {
    levels.push_back(lo.rate > 0 ? lo.rate : lo.concurrency);
  } else {
    size_t pos = 0;
    while (pos <= sweep.size()) {
      const size_t comma = sweep.find(',', pos);
      levels.push_back(std::stod(sweep.substr(pos, comma - pos)));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  const bool open_loop = lo.rate > 0;
  nlohmann::json runs = nlohmann::json::array();
  std::vector<phx::bench::PlotPoint> points;
  for (double level : levels) {
    if (g_stop) break;
    if (open_loop) {
      lo.rate = level;
    } else {
      lo.concurrency = static_cast<int>(level);
    }
    const auto samples = phx::bench::RunLoad(*client, prompts, ro, lo);
    const auto sum = phx::bench::Summarize(samples, slo);
    auto j = nlohmann::json::parse(phx::bench::SummaryJson(sum));
    j[open_loop ? "rate" : "concurrency"] = level;
    runs.push_back(j);
    points.push_back({level, sum});
    if (!json) {
      std::printf("== %s %g ==\n%s", open_loop ? "rate" : "concurrency", level,
                  phx::bench::SummaryText(sum).c_str());
    }
  }
  nlohmann::json result = {{"protocol", protocol},
                           {"target", protocol == "http" ? url : target},
                           {"prompt_tokens", prompt_len},
                           {"gen_tokens", gen_len},
                           {"stream", ro.stream},
                           {"mode", open_loop ? "open" : "closed"},
                           {"runs", runs}};
  if (!floor_rtt.empty()) {
    result["transport_floor_s"] = {{"p50", floor_p50}, {"p99", floor_p99}};
  }
  if (samples_file != nullptr) std::fclose(samples_file);
  if (json) std::printf("%s\n", result.dump(2).c_str());
  if (!out_json.empty()) std::ofstream(out_json) << result.dump(2) << "\n";
  if (!plot.empty()) {
    auto s =
        phx::bench::WritePlot(plot, points, open_loop ? "arrival rate (req/s)" : "concurrency");
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  return 0;
}

#include "runtime/grammar/maskbench.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::grammar {
namespace {

double NowUs(bool cpu) {
  timespec ts;
  clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

std::string Basename(const std::string& p) {
  const size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

}  // namespace

MaskbenchFile RunMaskbenchFile(GrammarEngine& engine, const tok::Tokenizer& tok,
                               const std::string& path, bool cpu_clock) {
  MaskbenchFile r;
  r.file = Basename(path);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = ParseJson(ss.str());
  if (!doc.ok() || !doc->is_object() || doc->Find("schema") == nullptr) {
    r.status = "compile_error";
    r.detail = doc.ok() ? "file has no schema" : std::string(doc.status().message());
    return r;
  }
  const JsonValue& schema = *doc->Find("schema");
  const JsonValue* tests = doc->Find("tests");
  const double t0 = NowUs(cpu_clock);
  auto g = engine.CompileJsonSchema(schema);
  if (!g.ok()) {
    r.compile_us = NowUs(cpu_clock) - t0;
    r.status = "compile_error";
    r.detail = std::string(g.status().message());
    return r;
  }
  Matcher m(*g);
  r.compile_us = NowUs(cpu_clock) - t0;
  std::vector<uint64_t> mask(engine.vocab()->mask_words());
  std::string validation, invalidation;
  if (tests != nullptr && tests->is_array()) {
    r.tests = static_cast<int>(tests->items().size());
    for (size_t i = 0; i < tests->items().size(); ++i) {
      const JsonValue& t = tests->items()[i];
      const JsonValue* data = t.Find("data");
      const JsonValue* valid = t.Find("valid");
      if (data == nullptr || valid == nullptr) continue;
      const std::string text = PyDumps(*data);
      const auto ids = tok.Encode(text, /*add_special=*/false, /*parse_special=*/false);
      if (i > 0) m.Reset();
      bool accepted = true;
      size_t refused_at = 0;
      for (size_t k = 0; k < ids.size(); ++k) {
        const double a = NowUs(cpu_clock);
        m.ComputeMask(mask.data());
        const int32_t id = ids[k];
        const bool allowed = (mask[id >> 6] >> (id & 63)) & 1;
        if (allowed) m.Commit(id);
        r.mask_us.push_back(static_cast<float>(NowUs(cpu_clock) - a));
        if (!allowed) {
          accepted = false;
          refused_at = k;
          break;
        }
      }
      const bool at_end = accepted && m.IsAccepting();
      if (valid->is_bool() && valid->as_bool() && !at_end && validation.empty()) {
        validation =
            accepted ? StrCat("test #", i, ": valid instance not complete at its end")
                     : StrCat("test #", i, ": valid instance refused at token ", refused_at,
                              " (byte offset of '", tok.TokenToPiece(ids[refused_at], true), "')");
      }
      if (valid->is_bool() && !valid->as_bool() && at_end && invalidation.empty()) {
        invalidation = StrCat("test #", i, ": invalid instance accepted");
      }
    }
  }
  if (!invalidation.empty()) {
    r.status = "invalidation_error";
    r.detail = invalidation;
  } else if (!validation.empty()) {
    r.status = "validation_error";
    r.detail = validation;
  } else {
    r.status = "passing";
  }
  return r;
}

Percentiles ComputePercentiles(std::vector<float> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (float x : v) sum += x;
  p.avg = sum / v.size();
  auto at = [&](double q) {
    const size_t i =
        std::min(v.size() - 1, static_cast<size_t>(std::floor(q * (v.size() - 1) + 0.5)));
    return static_cast<double>(v[i]);
  };
  p.p25 = at(0.25);
  p.p50 = at(0.50);
  p.p75 = at(0.75);
  p.p90 = at(0.90);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = v.back();
  return p;
}

}  // namespace phx::grammar

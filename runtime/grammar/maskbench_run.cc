// RunMaskbench: worker processes, timeouts, the summary table and the JSON report.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>

#include "base/strings.h"
#include "runtime/grammar/maskbench.h"

namespace phx::grammar {
namespace {

constexpr const char* kStatuses[] = {
    "passing", "compile_error", "validation_error", "invalidation_error", "timeout", "crash"};

bool WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void PutU32(std::string* b, uint32_t v) { b->append(reinterpret_cast<const char*>(&v), 4); }
void PutStr(std::string* b, const std::string& s) {
  PutU32(b, static_cast<uint32_t>(s.size()));
  b->append(s);
}

std::string Encode(uint32_t index, const MaskbenchFile& r) {
  std::string b;
  PutU32(&b, index);
  PutStr(&b, r.status);
  PutStr(&b, r.detail);
  b.append(reinterpret_cast<const char*>(&r.compile_us), sizeof(double));
  PutU32(&b, static_cast<uint32_t>(r.tests));
  PutU32(&b, static_cast<uint32_t>(r.mask_us.size()));
  b.append(reinterpret_cast<const char*>(r.mask_us.data()), r.mask_us.size() * sizeof(float));
  std::string framed;
  PutU32(&framed, static_cast<uint32_t>(b.size()));
  return framed + b;
}

// Reads exactly n bytes, waiting at most until `deadline`. 0: ok, 1: timeout, 2: EOF/error.
int ReadAll(int fd, void* p, size_t n, std::chrono::steady_clock::time_point deadline) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return 1;
    pollfd pfd{fd, POLLIN, 0};
    const int pr = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return 1;
    const ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 2;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return 0;
}

bool Decode(const std::string& b, uint32_t* index, MaskbenchFile* r) {
  size_t pos = 0;
  auto u32 = [&](uint32_t* v) {
    if (pos + 4 > b.size()) return false;
    std::memcpy(v, b.data() + pos, 4);
    pos += 4;
    return true;
  };
  auto str = [&](std::string* s) {
    uint32_t n;
    if (!u32(&n) || pos + n > b.size()) return false;
    s->assign(b.data() + pos, n);
    pos += n;
    return true;
  };
  uint32_t tests, n;
  if (!u32(index) || !str(&r->status) || !str(&r->detail)) return false;
  if (pos + sizeof(double) > b.size()) return false;
  std::memcpy(&r->compile_us, b.data() + pos, sizeof(double));
  pos += sizeof(double);
  if (!u32(&tests) || !u32(&n) || pos + uint64_t{n} * sizeof(float) > b.size()) return false;
  r->tests = static_cast<int>(tests);
  r->mask_us.resize(n);
  if (n > 0) std::memcpy(r->mask_us.data(), b.data() + pos, n * sizeof(float));
  return true;
}

void AppendStats(std::string* out, const char* name, const Percentiles& p) {
  *out += StrCat("\"", name, "\": {");
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "\"n\": %zu, \"avg\": %.1f, \"p25\": %.1f, \"p50\": %.1f, \"p75\": %.1f, "
                "\"p90\": %.1f, \"p95\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, \"max\": %.1f}",
                p.n, p.avg, p.p25, p.p50, p.p75, p.p90, p.p95, p.p99, p.p999, p.max);
  *out += buf;
}

std::string StatsRow(const char* name, const Percentiles& p) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-12s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %10.1f\n",
                name, p.avg, p.p25, p.p50, p.p75, p.p90, p.p95, p.p99, p.p999, p.max);
  return buf;
}

}  // namespace

int RunMaskbench(GrammarEngine& engine, const tok::Tokenizer& tok,
                 const std::vector<std::string>& files, const MaskbenchOptions& opt) {
  std::vector<MaskbenchFile> results(files.size());
  size_t next = 0;
  while (next < files.size()) {
    int fds[2];
    if (pipe(fds) != 0) {
      std::perror("pipe");
      return 2;
    }
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      return 2;
    }
    if (pid == 0) {
      close(fds[0]);
      signal(SIGPIPE, SIG_DFL);
      for (size_t i = next; i < files.size(); ++i) {
        MaskbenchFile r = RunMaskbenchFile(engine, tok, files[i], opt.cpu_clock);
        const std::string rec = Encode(static_cast<uint32_t>(i), r);
        if (!WriteAll(fds[1], rec.data(), rec.size())) _exit(3);
      }
      _exit(0);
    }
    close(fds[1]);
    while (next < files.size()) {
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(static_cast<int64_t>(opt.timeout_s * 1000));
      uint32_t len = 0;
      int rc = ReadAll(fds[0], &len, 4, deadline);
      std::string rec;
      if (rc == 0) {
        rec.resize(len);
        rc = ReadAll(fds[0], rec.data(), len, deadline);
      }
      MaskbenchFile& r = results[next];
      if (rc != 0) {
        if (rc == 1) kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        r.file = files[next].substr(files[next].rfind('/') + 1);
        r.status = rc == 1 ? "timeout" : "crash";
        r.detail = rc == 1           ? StrCat("no result within ", opt.timeout_s, " s")
                   : WIFSIGNALED(st) ? StrCat("worker killed by signal ", WTERMSIG(st))
                                     : StrCat("worker exited with status ", WEXITSTATUS(st));
        if (!opt.quiet)
          std::fprintf(stderr, "%s: %s (%s)\n", r.file.c_str(), r.status.c_str(), r.detail.c_str());
        ++next;
        break;  // start a fresh worker at the next file
      }
      uint32_t index = 0;
      if (!Decode(rec, &index, &r) || index != next) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        r.file = files[next].substr(files[next].rfind('/') + 1);
        r.status = "crash";
        r.detail = "garbled worker report";
        ++next;
        break;
      }
      r.file = files[next].substr(files[next].rfind('/') + 1);
      if (!opt.quiet && r.status != "passing") {
        std::fprintf(stderr, "%s: %s (%s)\n", r.file.c_str(), r.status.c_str(), r.detail.c_str());
      }
      ++next;
      if (next == files.size()) waitpid(pid, nullptr, 0);
    }
    close(fds[0]);
  }

  std::map<std::string, int> counts;
  std::vector<float> masks, compiles;
  for (const auto& r : results) {
    ++counts[r.status];
    masks.insert(masks.end(), r.mask_us.begin(), r.mask_us.end());
    if (r.status != "timeout" && r.status != "crash" && r.status != "compile_error") {
      compiles.push_back(static_cast<float>(r.compile_us));
    }
  }
  const Percentiles mp = ComputePercentiles(masks), cp = ComputePercentiles(compiles);
  std::string table;
  table += StrCat("files: ", files.size(), "\n");
  for (const char* s : kStatuses) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "  %-19s %6d (%5.1f%%)\n", s, counts[s],
                  files.empty() ? 0.0 : 100.0 * counts[s] / files.size());
    table += buf;
  }
  table +=
      StrCat("masks: ", mp.n, " (", opt.cpu_clock ? "thread CPU time" : "wall time", ", us)\n");
  table += "             " + std::string(
                                 "      avg       p25       p50       p75       p90       "
                                 "p95       p99     p99.9        max\n");
  table += StatsRow("mask_us", mp);
  table += StatsRow("compile_us", cp);
  std::fputs(table.c_str(), stdout);

  if (!opt.json_out.empty()) {
    std::string js = "{\"summary\": {";
    js += StrCat("\"files\": ", files.size());
    for (const char* s : kStatuses) js += StrCat(", \"", s, "\": ", counts[s]);
    js += ", ";
    AppendStats(&js, "mask_us", mp);
    js += ", ";
    AppendStats(&js, "compile_us", cp);
    js += "}, \"files\": [";
    for (size_t i = 0; i < results.size(); ++i) {
      if (i > 0) js += ", ";
      js += "{\"file\": ";
      AppendPyJsonString(results[i].file, &js);
      js += ", \"status\": ";
      AppendPyJsonString(results[i].status, &js);
      js += ", \"detail\": ";
      AppendPyJsonString(results[i].detail, &js);
      js += "}";
    }
    js += "]}\n";
    if (opt.json_out == "-") {
      std::fputs(js.c_str(), stdout);
    } else if (FILE* f = std::fopen(opt.json_out.c_str(), "w")) {
      std::fputs(js.c_str(), f);
      std::fclose(f);
    } else {
      std::fprintf(stderr, "error: cannot write %s\n", opt.json_out.c_str());
      return 2;
    }
  }
  if (!opt.times_out.empty()) {
    if (FILE* f = std::fopen(opt.times_out.c_str(), "w")) {
      std::fputs("file\tstatus\tcompile_us\tmasks\tmask_p50\tmask_p99\tmask_max\n", f);
      for (const auto& r : results) {
        const Percentiles p = ComputePercentiles(r.mask_us);
        std::fprintf(f, "%s\t%s\t%.1f\t%zu\t%.1f\t%.1f\t%.1f\n", r.file.c_str(), r.status.c_str(),
                     r.compile_us, p.n, p.p50, p.p99, p.max);
      }
      std::fclose(f);
    } else {
      std::fprintf(stderr, "error: cannot write %s\n", opt.times_out.c_str());
      return 2;
    }
  }
  return counts["crash"] + counts["timeout"] + counts["invalidation_error"] > 0 ? 1 : 0;
}

}  // namespace phx::grammar

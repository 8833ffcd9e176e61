#include "server/audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace phx::server {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

AuditRecord Sample() {
  AuditRecord r;
  r.request_id = "req-1";
  r.key_id = "team-a";
  r.peer = "ipv4:10.0.0.1:5555";
  r.rpc = "Generate";
  r.status = "OK";
  r.reason = "stop";
  r.prompt_tokens = 12;
  r.completion_tokens = 34;
  r.cached_prompt_tokens = 8;
  r.latency_s = 1.25;
  r.degraded = true;
  r.prompt = "secret prompt\nwith a newline";
  r.output = "secret output";
  r.comment = "great answer";
  r.rating = 5;
  return r;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("phx_audit_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AuditLog, AllFieldsPresentTimeFirst) {
  TempDir dir;
  auto log = AuditLog::Open(dir.File("audit.jsonl"), /*include_text=*/true);
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string line = (*log)->Format(Sample());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;  // time is the first field
  const json j = json::parse(line);
  const std::vector<std::string> fields = {"time",
                                           "request_id",
                                           "key_id",
                                           "peer",
                                           "rpc",
                                           "status",
                                           "reason",
                                           "prompt_tokens",
                                           "completion_tokens",
                                           "cached_prompt_tokens",
                                           "latency_s",
                                           "degraded",
                                           "prompt",
                                           "output",
                                           "comment",
                                           "rating"};
  for (const std::string& f : fields) EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_EQ(j.size(), fields.size());
  EXPECT_EQ(j["request_id"], "req-1");
  EXPECT_EQ(j["key_id"], "team-a");
  EXPECT_EQ(j["peer"], "ipv4:10.0.0.1:5555");
  EXPECT_EQ(j["rpc"], "Generate");
  EXPECT_EQ(j["status"], "OK");
  EXPECT_EQ(j["reason"], "stop");
  EXPECT_EQ(j["prompt_tokens"], 12);
  EXPECT_EQ(j["completion_tokens"], 34);
  EXPECT_EQ(j["cached_prompt_tokens"], 8);
  EXPECT_DOUBLE_EQ(j["latency_s"].get<double>(), 1.25);
  EXPECT_EQ(j["degraded"], true);
  EXPECT_EQ(j["rating"], 5);
  EXPECT_EQ(j["prompt"], "secret prompt\nwith a newline");
  EXPECT_EQ(j["output"], "secret output");
  EXPECT_EQ(j["comment"], "great answer");
}

TEST(AuditLog, TimeIsRfc3339UtcWithMilliseconds) {
  TempDir dir;
  auto log = AuditLog::Open(dir.File("a.jsonl"), false);
  ASSERT_TRUE(log.ok());
  const auto before = std::chrono::system_clock::now();
  const std::string t = json::parse((*log)->Format(Sample()))["time"];
  const auto after = std::chrono::system_clock::now();
  ASSERT_TRUE(std::regex_match(t, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << t;
  std::tm tm{};
  ASSERT_NE(strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr);
  const auto secs = std::chrono::system_clock::from_time_t(timegm(&tm));
  const auto stamp = secs + std::chrono::milliseconds(std::stoi(t.substr(20, 3)));
  EXPECT_GE(stamp, std::chrono::floor<std::chrono::milliseconds>(before));
  EXPECT_LE(stamp, after);
}

TEST(AuditLog, TextIsRedactedUnlessIncluded) {
  TempDir dir;
  auto log = AuditLog::Open(dir.File("a.jsonl"), /*include_text=*/false);
  ASSERT_TRUE(log.ok());
  const AuditRecord r = Sample();
  const std::string line = (*log)->Format(r);
  EXPECT_THAT(line, Not(HasSubstr("secret")));
  EXPECT_THAT(line, Not(HasSubstr("great answer")));
  const json j = json::parse(line);
  EXPECT_EQ(j["prompt"], "[redacted " + std::to_string(r.prompt.size()) + " bytes]");
  EXPECT_EQ(j["output"], "[redacted 13 bytes]");
  EXPECT_EQ(j["comment"], "[redacted 12 bytes]");
  // Metadata is never redacted.
  EXPECT_EQ(j["key_id"], "team-a");
  EXPECT_EQ(j["rating"], 5);
  // Empty text stays empty.
  AuditRecord empty = r;
  empty.prompt.clear();
  EXPECT_EQ(json::parse((*log)->Format(empty))["prompt"], "");
}

TEST(AuditLog, WritesOneValidJsonLinePerRecordEvenForOddText) {
  TempDir dir;
  const std::string path = dir.File("a.jsonl");
  auto log = AuditLog::Open(path, /*include_text=*/true);
  ASSERT_TRUE(log.ok());
  AuditRecord odd = Sample();
  static const char kOdd[] = "quote\" backslash\\ nul\0 ctl\x01 bad utf8 \xff\xfe end";
  odd.prompt = std::string(kOdd, sizeof(kOdd) - 1);
  odd.request_id = "\xc3\x28";  // invalid UTF-8 from a client
  odd.output = "line1\r\nline2\u2028";
  (*log)->Write(odd);
  (*log)->Write(Sample());
  log->reset();  // close
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& l : lines) EXPECT_TRUE(json::accept(l)) << l;
  const json j = json::parse(lines[0]);
  EXPECT_THAT(j["prompt"].get<std::string>(), HasSubstr("quote\" backslash\\"));
  EXPECT_EQ(j["output"], "line1\r\nline2\u2028");
}

TEST(AuditLog, AppendsToAnExistingFile) {
  TempDir dir;
  const std::string path = dir.File("a.jsonl");
  std::ofstream(path) << "{\"old\":1}\n";
  {
    auto log = AuditLog::Open(path, false);
    ASSERT_TRUE(log.ok());
    (*log)->Write(Sample());
  }
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"old\":1}");
}

TEST(AuditLog, OpenFailsForBadPaths) {
  auto bad = AuditLog::Open("/nonexistent-dir/phx/audit.jsonl", false);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("/nonexistent-dir/phx/audit.jsonl"));
  EXPECT_FALSE(AuditLog::Open("", false).ok());
  auto err = AuditLog::Open("-", false);  // stderr
  ASSERT_TRUE(err.ok());
  EXPECT_TRUE((*err)->Reopen().ok());
}

TEST(AuditLog, ConcurrentWritersProduceWholeLines) {
  TempDir dir;
  const std::string path = dir.File("a.jsonl");
  auto log = AuditLog::Open(path, true);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        AuditRecord r = Sample();
        r.request_id = std::to_string(t) + "-" + std::to_string(i);
        r.prompt = std::string(500 + 37 * i % 3000, static_cast<char>('a' + t));
        (*log)->Write(r);
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), size_t{kThreads * kPerThread});
  std::set<std::string> ids;
  for (const std::string& l : lines) {
    json j;
    ASSERT_NO_THROW(j = json::parse(l)) << l.substr(0, 200);
    const std::string id = j["request_id"];
    const int t = std::stoi(id.substr(0, id.find('-')));
    // The prompt is one thread's letter only: no interleaving inside a line.
    EXPECT_EQ(j["prompt"].get<std::string>().find_first_not_of(static_cast<char>('a' + t)),
              std::string::npos);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), size_t{kThreads * kPerThread});
}

TEST(AuditLog, ReopenAfterTheFileWasMoved) {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  const std::string rotated = dir.File("audit.jsonl.1");
  auto log = AuditLog::Open(path, false);
  ASSERT_TRUE(log.ok());
  AuditRecord r = Sample();
  r.request_id = "before";
  (*log)->Write(r);
  std::filesystem::rename(path, rotated);
  r.request_id = "after-move";  // still goes to the moved file until Reopen
  (*log)->Write(r);
  ASSERT_TRUE((*log)->Reopen().ok());
  r.request_id = "after-reopen";
  (*log)->Write(r);
  const auto old_lines = ReadLines(rotated);
  const auto new_lines = ReadLines(path);
  ASSERT_EQ(old_lines.size(), 2u);
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_EQ(json::parse(old_lines[0])["request_id"], "before");
  EXPECT_EQ(json::parse(old_lines[1])["request_id"], "after-move");
  EXPECT_EQ(json::parse(new_lines[0])["request_id"], "after-reopen");
}

TEST(AuditLog, FailedReopenKeepsWritingToTheOldFile) {
  TempDir dir;
  const std::string sub = dir.File("sub");
  std::filesystem::create_directories(sub);
  const std::string path = sub + "/audit.jsonl";
  const std::string moved = dir.File("moved.jsonl");
  auto log = AuditLog::Open(path, false);
  ASSERT_TRUE(log.ok());
  std::filesystem::rename(path, moved);
  std::filesystem::remove_all(sub);  // the path can no longer be created
  EXPECT_FALSE((*log)->Reopen().ok());
  (*log)->Write(Sample());
  EXPECT_EQ(ReadLines(moved).size(), 1u);
}

// Issue 23: a 15 MB request_id (or any other oversized client string) must not reach the log
// verbatim. Every field is cut to its documented bound at a character boundary, with the
// original length shown.
TEST(AuditLog, EveryFieldIsCutToItsBound) {
  TempDir dir;
  auto log = AuditLog::Open(dir.File("a.jsonl"), /*include_text=*/true, /*max_text_bytes=*/1000);
  ASSERT_TRUE(log.ok());
  AuditRecord r = Sample();
  const std::string huge(15 << 20, 'x');
  r.request_id = huge;
  r.key_id = huge;
  r.peer = huge;
  r.rpc = huge;
  r.status = huge;
  r.reason = huge;
  r.prompt = huge;
  r.output = huge;
  r.comment = huge;
  const std::string line = (*log)->Format(r);
  EXPECT_LT(line.size(), 8u << 10);
  const json j = json::parse(line);
  EXPECT_EQ(j["request_id"], std::string(kMaxLoggedIdBytes, 'x') + "...[15728640 bytes]");
  EXPECT_EQ(j["key_id"].get<std::string>().size(), kMaxLoggedIdBytes + 19);
  EXPECT_EQ(j["peer"].get<std::string>().rfind(std::string(kMaxLoggedPeerBytes, 'x') + "...[", 0),
            0u);
  EXPECT_EQ(j["prompt"], std::string(1000, 'x') + "...[15728640 bytes]");
  EXPECT_EQ(j["output"], std::string(1000, 'x') + "...[15728640 bytes]");
  EXPECT_EQ(j["comment"].get<std::string>().size(), kMaxLoggedCommentBytes + 19);
  // Redacted text says how long it was, not what it was.
  auto redacting = AuditLog::Open(dir.File("b.jsonl"), false);
  ASSERT_TRUE(redacting.ok());
  EXPECT_EQ(json::parse((*redacting)->Format(r))["prompt"], "[redacted 15728640 bytes]");
}

TEST(ClipForLog, CutsAtACharacterBoundary) {
  EXPECT_EQ(ClipForLog("short", 5), "short");
  EXPECT_EQ(ClipForLog("", 0), "");
  EXPECT_EQ(ClipForLog("abcdef", 3), "abc...[6 bytes]");
  // "é" is two bytes, "€" three, "😀" four: never split.
  EXPECT_EQ(ClipForLog("aé", 2), "a...[3 bytes]");
  EXPECT_EQ(ClipForLog("a€b", 2), "a...[5 bytes]");
  EXPECT_EQ(ClipForLog("a€b", 3), "a...[5 bytes]");
  EXPECT_EQ(ClipForLog("a€b", 4), "a€...[5 bytes]");
  EXPECT_EQ(ClipForLog("😀😀", 5), "😀...[8 bytes]");
  EXPECT_EQ(ClipForLog("😀😀", 3), "...[8 bytes]");
  // Invalid UTF-8 (a run of continuation bytes) still ends within 3 bytes of the bound.
  const std::string junk(100, '\x80');
  EXPECT_EQ(ClipForLog(junk, 10).size(), 7 + std::string("...[100 bytes]").size());
}

TEST(ClipForLog, BoundIsIdempotentOnClippedStrings) {
  const std::string huge(1000, 'z');
  const std::string once = ClipForLog(huge, 128);
  EXPECT_EQ(BoundForLog(once, 128), once);
  EXPECT_EQ(BoundForLog(huge, 128), once);
  EXPECT_EQ(BoundForLog("short", 128), "short");
  // Anything within the bound plus the marker's room passes as it is.
  const std::string near(128 + kClipMarkerBytes, 'q');
  EXPECT_EQ(BoundForLog(near, 128), near);
  EXPECT_EQ(BoundForLog(near + "q", 128), ClipForLog(near + "q", 128));
}

}  // namespace
}  // namespace phx::server

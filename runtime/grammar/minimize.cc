#include "runtime/grammar/minimize.h"

#include <algorithm>
#include <numeric>

namespace phx::grammar {
namespace {

// A refinable partition of {0..n-1}: sets are contiguous ranges [first, past) of `elems`;
// marked elements of a set are moved to its front, then split() separates them.
struct Partition {
  int z = 0;
  std::vector<int> elems, loc, set, first, past;
  std::vector<int>* marked = nullptr;   // per set, shared scratch
  std::vector<int>* touched = nullptr;  // sets with marks, shared scratch
  int* ntouched = nullptr;

  void Init(int n) {
    z = n > 0 ? 1 : 0;
    elems.resize(n);
    loc.resize(n);
    set.assign(n, 0);
    first.assign(n + 1, 0);
    past.assign(n + 1, 0);
    std::iota(elems.begin(), elems.end(), 0);
    std::iota(loc.begin(), loc.end(), 0);
    if (z) past[0] = n;
  }
  void Mark(int e) {
    const int s = set[e], i = loc[e], j = first[s] + (*marked)[s];
    elems[i] = elems[j];
    loc[elems[i]] = i;
    elems[j] = e;
    loc[e] = j;
    if ((*marked)[s]++ == 0) (*touched)[(*ntouched)++] = s;
  }
  void Split() {
    while (*ntouched > 0) {
      const int s = (*touched)[--*ntouched];
      const int j = first[s] + (*marked)[s];
      if (j == past[s]) {
        (*marked)[s] = 0;
        continue;
      }
      // The smaller part becomes the new set z.
      if ((*marked)[s] <= past[s] - j) {
        first[z] = first[s];
        past[z] = first[s] = j;
      } else {
        past[z] = past[s];
        first[z] = past[s] = j;
      }
      for (int i = first[z]; i < past[z]; ++i) set[elems[i]] = z;
      (*marked)[s] = 0;
      (*marked)[z] = 0;
      ++z;
    }
  }
};

}  // namespace

int MinimizeBlocks(int n, int k, const std::vector<int32_t>& trans,
                   const std::vector<uint8_t>& accept, std::vector<int32_t>* block) {
  std::vector<int> tail, label, head;
  for (int s = 0; s < n; ++s) {
    for (int c = 0; c < k; ++c) {
      const int32_t t = trans[static_cast<size_t>(s) * k + c];
      if (t >= 0) {
        tail.push_back(s);
        label.push_back(c);
        head.push_back(t);
      }
    }
  }
  const int m = static_cast<int>(tail.size());
  std::vector<int> marked(std::max(n, m) + 1, 0), touched(std::max(n, m) + 1, 0);
  int ntouched = 0;
  Partition blocks, cords;
  blocks.marked = cords.marked = &marked;
  blocks.touched = cords.touched = &touched;
  blocks.ntouched = cords.ntouched = &ntouched;
  blocks.Init(n);
  // Accepting vs not.
  for (int s = 0; s < n; ++s) {
    if (accept[s]) blocks.Mark(s);
  }
  blocks.Split();
  // Transitions grouped by label.
  cords.Init(m);
  if (m > 0) {
    std::sort(cords.elems.begin(), cords.elems.end(),
              [&](int a, int b) { return label[a] < label[b]; });
    cords.z = 0;
    marked[0] = 0;
    int a = label[cords.elems[0]];
    for (int i = 0; i < m; ++i) {
      const int t = cords.elems[i];
      if (label[t] != a) {
        a = label[t];
        cords.past[cords.z++] = i;
        cords.first[cords.z] = i;
        marked[cords.z] = 0;
      }
      cords.set[t] = cords.z;
      cords.loc[t] = i;
    }
    cords.past[cords.z++] = m;
  }
  // Transitions into each state.
  std::vector<int> adj(m), adj_first(n + 1, 0);
  for (int t = 0; t < m; ++t) ++adj_first[head[t]];
  for (int q = 0; q < n; ++q) adj_first[q + 1] += adj_first[q];
  for (int t = m; t-- > 0;) adj[--adj_first[head[t]]] = t;
  int b = 1, c = 0;
  while (c < cords.z) {
    for (int i = cords.first[c]; i < cords.past[c]; ++i) blocks.Mark(tail[cords.elems[i]]);
    blocks.Split();
    ++c;
    while (b < blocks.z) {
      for (int i = blocks.first[b]; i < blocks.past[b]; ++i) {
        const int q = blocks.elems[i];
        for (int j = adj_first[q]; j < adj_first[q + 1]; ++j) cords.Mark(adj[j]);
      }
      cords.Split();
      ++b;
    }
  }
  block->assign(blocks.set.begin(), blocks.set.end());
  return blocks.z;
}

}  // namespace phx::grammar

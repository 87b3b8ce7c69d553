// Per-iteration records described once: a record type lists its fields (JSON key, unit
// scale, member path) next to its definition, and everything that walks the fields is
// derived from that one list: packing into doubles (to all_gather every rank's records),
// unpacking, the JSON object written per iteration, and (over_ranks) the per-rank summaries.
//
//   inline constexpr auto kFields = std::to_array<RecordField<Rec>>({
//       record_field<&Rec::iter>("iter"),                       // int: a JSON integer
//       record_field<&Rec::dt>("dt_ms", 1e3),                   // seconds, written in ms
//       record_field<&Rec::mem, &MemStats::peak>("mem_peak_bytes", 1.0, name_of),  // an array: {name_of(i): value}
//       record_field<&Rec::mem, &MemStats::num_allocs>(nullptr),  // packed, not written
//   });
//   static_assert(lists_every_leaf_once(kFields));  // a member missing from the list fails to compile
//
// A field is a path of member pointers ending in an arithmetic member (bool, integer,
// floating) or a std::array of them. JSON values keep the member's type (integers stay
// integers, bools bools); only floating members take the scale. Packing goes through
// double, so integers above 2^53 would lose precision (bytes and counts here are far below).
#pragma once

#include <array>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "report/stats.h"

namespace tpb {

// The member a path of member pointers leads to: member<&A::b, &B::c>(a) is a.b.c.
template <auto... Path>
inline constexpr auto member = [](auto& r) -> auto& { return (r .* ... .* Path); };

template <class R>
struct RecordField {
  const char* key = nullptr;  // JSON key; nullptr: packed but not written to JSON
  double scale = 1.0;         // JSON value = member * scale (floating members only)
  int width = 1;              // doubles it packs into: 1, or the array's length
  std::string_view (*element_key)(int) = nullptr;  // arrays: the JSON key of element i
  double (*get)(const R&, int) = nullptr;
  void (*set)(R&, int, double) = nullptr;
  nlohmann::json (*json_value)(const R&, int, double) = nullptr;
  const void* (*address)(const R&, int) = nullptr;  // of element i (lists_every_leaf_once)
};

namespace record_detail {

template <class T>
struct member_class;
template <class T, class C>
struct member_class<T C::*> {
  using type = C;
};

template <class T>
struct array_traits {
  static constexpr bool is_array = false;
  static constexpr int size = 1;
  using element = T;
};
template <class T, std::size_t N>
struct array_traits<std::array<T, N>> {
  static constexpr bool is_array = true;
  static constexpr int size = static_cast<int>(N);
  using element = T;
};

template <class T>
inline constexpr bool is_scalar_field = std::is_arithmetic_v<T>;

// Element i of a leaf (the leaf itself when it is no array).
template <class Leaf>
constexpr auto& element(Leaf& leaf, int i) {
  if constexpr (array_traits<std::remove_const_t<Leaf>>::is_array)
    return leaf[static_cast<std::size_t>(i)];
  else
    return leaf;
}

// Converts to any arithmetic type and to nothing else, so R{AnyScalar{}, ...} initialises
// one scalar per initializer, eliding the braces of nested structs and arrays.
struct AnyScalar {
  template <class T>
    requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  constexpr operator T() const noexcept {
    return T{};
  }
};

template <class R, std::size_t... I>
constexpr bool brace_initializable(std::index_sequence<I...>) {
  return requires { R{(static_cast<void>(I), AnyScalar{})...}; };
}

}  // namespace record_detail

// The number of scalar leaves of an aggregate (nested structs and std::arrays counted
// element by element): the most scalars R{...} accepts with brace elision.
template <class R, std::size_t N = 0>
constexpr int aggregate_leaf_count() {
  static_assert(std::is_aggregate_v<R>, "aggregate_leaf_count needs an aggregate");
  if constexpr (!record_detail::brace_initializable<R>(std::make_index_sequence<N + 1>{}))
    return static_cast<int>(N);
  else
    return aggregate_leaf_count<R, N + 1>();
}

// One field: the member at Path, written under `key` (nullptr: not written) times `scale`;
// arrays as a JSON object {element_key(i): value}.
template <auto First, auto... Rest>
constexpr auto record_field(const char* key, double scale = 1.0, std::string_view (*element_key)(int) = nullptr) {
  using R = typename record_detail::member_class<decltype(First)>::type;
  using Leaf = std::remove_cvref_t<decltype(member<First, Rest...>(std::declval<R&>()))>;
  using Traits = record_detail::array_traits<Leaf>;
  using E = typename Traits::element;
  static_assert(record_detail::is_scalar_field<E>, "a record field is an arithmetic member or a std::array of them");
  // Not constant (a compile error in a constexpr list): a scale on a non-floating member.
  // (An array written without element keys is refused by record_json: comparing a function
  // pointer with null is not a constant expression under g++ 12's -fsanitize=undefined.)
  if (scale != 1.0 && !std::is_floating_point_v<E>) throw "record_field: only floating members take a scale";
  RecordField<R> f;
  f.key = key;
  f.scale = scale;
  f.width = Traits::size;
  f.element_key = element_key;
  f.get = [](const R& r, int i) {
    return static_cast<double>(record_detail::element(member<First, Rest...>(r), i));
  };
  f.set = [](R& r, int i, double v) {
    auto& e = record_detail::element(member<First, Rest...>(r), i);
    if constexpr (std::is_same_v<E, bool>)
      e = v != 0;
    else
      e = static_cast<E>(v);
  };
  f.json_value = [](const R& r, int i, double s) {
    const E& e = record_detail::element(member<First, Rest...>(r), i);
    if constexpr (std::is_floating_point_v<E>)
      return nlohmann::json(e * s);
    else
      return nlohmann::json(e);
  };
  f.address = [](const R& r, int i) -> const void* { return &record_detail::element(member<First, Rest...>(r), i); };
  return f;
}

// Doubles one record packs into.
template <class R, std::size_t N>
constexpr int record_width(const std::array<RecordField<R>, N>& fields) {
  int w = 0;
  for (const auto& f : fields) w += f.width;
  return w;
}

// True when the fields name every scalar leaf of R exactly once: as many elements as R has
// leaves, at pairwise distinct addresses. Constant, for a static_assert next to the list.
template <class R, std::size_t N>
constexpr bool lists_every_leaf_once(const std::array<RecordField<R>, N>& fields) {
  if (record_width(fields) != aggregate_leaf_count<R>()) return false;
  const R r{};
  for (std::size_t a = 0; a < N; ++a)
    for (int i = 0; i < fields[a].width; ++i)
      for (std::size_t b = a; b < N; ++b)
        for (int j = b == a ? i + 1 : 0; j < fields[b].width; ++j)
          if (fields[a].address(r, i) == fields[b].address(r, j)) return false;
  return true;
}

template <class R, std::size_t N>
void pack_record(const std::array<RecordField<R>, N>& fields, const R& r, double* out) {
  for (const auto& f : fields)
    for (int i = 0; i < f.width; ++i) *out++ = f.get(r, i);
}

template <class R, std::size_t N>
R unpack_record(const std::array<RecordField<R>, N>& fields, const double* in) {
  R r{};
  for (const auto& f : fields)
    for (int i = 0; i < f.width; ++i) f.set(r, i, *in++);
  return r;
}

// The fields that have a key, as one JSON object (arrays as {element key: value}).
template <class R, std::size_t N>
nlohmann::json record_json(const std::array<RecordField<R>, N>& fields, const R& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : fields) {
    if (!f.key) continue;
    if (!f.element_key) {
      if (f.width != 1) throw std::logic_error(std::string("record field ") + f.key + ": an array needs element keys");
      j[f.key] = f.json_value(r, 0, f.scale);
      continue;
    }
    nlohmann::json elements = nlohmann::json::object();
    for (int i = 0; i < f.width; ++i) elements[std::string(f.element_key(i))] = f.json_value(r, i, f.scale);
    j[f.key] = std::move(elements);
  }
  return j;
}

// Every rank's records to every rank: [rank][record]. Collective over `group` (any
// communicator with all_gather(send, recv, count, DType)); every rank passes as many records.
template <class Group, class R, std::size_t N>
std::vector<std::vector<R>> all_gather_records(Group& group, const std::array<RecordField<R>, N>& fields,
                                               const std::vector<R>& mine) {
  const auto width = static_cast<std::size_t>(record_width(fields));
  std::vector<double> packed(mine.size() * width);
  for (std::size_t i = 0; i < mine.size(); ++i) pack_record(fields, mine[i], packed.data() + i * width);
  const auto ranks = static_cast<std::size_t>(group.size());
  std::vector<double> all(packed.size() * ranks);
  group.all_gather(packed.data(), all.data(), packed.size(), DType::f64);
  std::vector<std::vector<R>> out(ranks);
  for (std::size_t rank = 0; rank < ranks; ++rank)
    for (std::size_t i = 0; i < mine.size(); ++i)
      out[rank].push_back(unpack_record(fields, all.data() + (rank * mine.size() + i) * width));
  return out;
}

// Over ranks, of each rank's median of value(record) over the records keep(record) keeps.
template <class R, class Value, class Keep>
Stats over_ranks(const std::vector<std::vector<R>>& per_rank, Value value, Keep keep) {
  std::vector<double> medians;
  for (const auto& rank : per_rank) {
    std::vector<double> v;
    for (const R& r : rank)
      if (keep(r)) v.push_back(static_cast<double>(value(r)));
    medians.push_back(summarize(v).median);
  }
  return summarize(medians);
}

template <class R, class Value>
Stats over_ranks(const std::vector<std::vector<R>>& per_rank, Value value) {
  return over_ranks(per_rank, value, [](const R&) { return true; });
}

}  // namespace tpb

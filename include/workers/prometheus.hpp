#pragma once

/// @file
/// @brief Workers' metrics for Prometheus, through prometheus-cpp (an optional
/// header: only it needs prometheus-cpp; link prometheus-cpp's `core` library).
///
/// `prometheus_collector` is a `prometheus::Collectable`: register it where
/// prometheus-cpp scrapes collectables (`prometheus::Exposer::RegisterCollectable`,
/// a `prometheus::Gateway`), or call `Collect()` and give the families to a
/// `prometheus::TextSerializer` in a server of your own. At each scrape it walks
/// the tables added to it and reads the metrics of their live workers
/// (`metrics(w)`: the tables must be created with `table_options::metrics`;
/// workers without metrics are skipped):
///
/// | name                                | type      | what (see `worker_metrics`)               |
/// |-------------------------------------|-----------|-------------------------------------------|
/// | `workers_requests_handled_total`    | counter   | requests handled, successful or not       |
/// | `workers_requests_failed_total`     | counter   | of those, ended in a request error        |
/// | `workers_requests_crashed_total`    | counter   | of those, crashed the worker              |
/// | `workers_requests_dropped_total`    | counter   | left unhandled at close                   |
/// | `workers_requests_cancelled_total`  | counter   | whose callers all gave up                 |
/// | `workers_requests_refused_total`    | counter   | pushed after the close began              |
/// | `workers_queue_alarms_total`        | counter   | `queue_high` crossings                    |
/// | `workers_requests_slow_total`       | counter   | handlers past their `slow` budget         |
/// | `workers_requests_stuck_total`      | counter   | handlers past their `stuck` budget        |
/// | `workers_shutdown_escalations_total`| counter   | closes whose deadline expired             |
/// | `workers_restarts_total`            | counter   | restarts begun by the restart policy      |
/// | `workers_queue_length`              | gauge     | requests waiting                          |
/// | `workers_requests_in_flight`        | gauge     | requests being handled (0 or 1)           |
/// | `workers_queue_wait_seconds`        | histogram | treated − pushed, per request handled     |
/// | `workers_service_time_seconds`      | histogram | completed − treated, per request handled  |
///
/// Durations are in seconds; the histograms' buckets are `histogram::bounds`
/// (`le`, cumulative, ending with `+Inf`), and their `_count` is the number of
/// requests handled. Every series has two labels: `group`, the group's base
/// joined by '-' (`demo-node`), and `worker`, the worker's full name
/// (`demo-node_alice`). A worker's series exist while it is in its table (from
/// its launch until it has closed). A family without any series is left out.
///
/// Thread safety: `add` and `Collect` may be called from any thread, at any
/// time, while the workers run: a scrape only reads tables and metrics
/// snapshots (each counter exact, the set not one atomic snapshot).

#include <workers/detail/config.hpp>
#include <workers/metrics.hpp>
#include <workers/table.hpp>
#include <workers/worker.hpp>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE

/// @brief Exposes the metrics of the workers of one or more tables to
/// prometheus-cpp (see the file's documentation for names, units and labels).
///
/// @code
/// auto collector = std::make_shared<workers::prometheus_collector>();
/// collector->add(validators);  // tables of any groups and buffer kinds
/// collector->add(prevalidators);
/// exposer.RegisterCollectable(collector);  // or: TextSerializer over Collect()
/// @endcode
///
/// The collector keeps the tables it was given (cheap, shared handles).
class prometheus_collector final : public ::prometheus::Collectable {
 public:
  /// @brief One worker's metrics, as a scrape reads them.
  struct sample {
    std::string group;       ///< the group's base joined by '-'
    std::string worker;      ///< the worker's full name
    worker_metrics metrics;  ///< `metrics(w)` at the scrape
  };

  /// @brief Scrapes `t`'s workers from now on. Any thread.
  template <class Def, class Kind>
  void add(table<Def, Kind> t) {
    auto source = [t = std::move(t)](std::vector<sample>& out) {
      const std::string group = Def::base_name();
      const std::size_t first = out.size();
      for (const auto& [name, w] : workers::list(t))
        if (auto m = workers::metrics(w)) out.push_back({group, w.full_name(), *m});
      // A table keeps no order: series come sorted by worker.
      std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                [](const sample& a, const sample& b) { return a.worker < b.worker; });
    };
    std::lock_guard lock(mutex_);
    sources_.emplace_back(std::move(source));
  }

  /// @brief The metrics of every live worker of the tables added, table by
  /// table in the order they were added, each table's workers by full name. Any thread.
  std::vector<sample> samples() const {
    std::vector<std::function<void(std::vector<sample>&)>> sources;
    {
      std::lock_guard lock(mutex_);
      sources = sources_;
    }
    std::vector<sample> out;
    for (const auto& source : sources) source(out);
    return out;
  }

  /// @brief The metric families of `samples`: what `Collect` returns.
  static std::vector<::prometheus::MetricFamily> families(const std::vector<sample>& samples) {
    using ::prometheus::MetricType;
    std::vector<::prometheus::MetricFamily> out;
    if (samples.empty()) return out;
    const auto family = [&](const char* name, const char* help, MetricType type, auto fill) {
      ::prometheus::MetricFamily f{name, help, type, {}};
      f.metric.reserve(samples.size());
      for (const auto& s : samples) {
        ::prometheus::ClientMetric m;
        m.label = {{"group", s.group}, {"worker", s.worker}};
        fill(m, s.metrics);
        f.metric.push_back(std::move(m));
      }
      out.push_back(std::move(f));
    };
    const auto counter = [&](const char* name, const char* help, std::uint64_t worker_metrics::*c) {
      family(name, help, MetricType::Counter,
             [c](::prometheus::ClientMetric& m, const worker_metrics& w) {
               m.counter.value = static_cast<double>(w.*c);
             });
    };
    const auto gauge = [&](const char* name, const char* help, std::size_t worker_metrics::*g) {
      family(name, help, MetricType::Gauge,
             [g](::prometheus::ClientMetric& m, const worker_metrics& w) {
               m.gauge.value = static_cast<double>(w.*g);
             });
    };
    const auto durations = [&](const char* name, const char* help, histogram worker_metrics::*h) {
      family(name, help, MetricType::Histogram,
             [h](::prometheus::ClientMetric& m, const worker_metrics& w) {
               const histogram& in = w.*h;
               auto& hist = m.histogram;
               hist.sample_count = in.count;
               hist.sample_sum = in.sum;
               hist.bucket.reserve(in.buckets.size());
               std::uint64_t cumulative = 0;
               for (std::size_t i = 0; i < in.buckets.size(); ++i) {
                 cumulative += in.buckets[i];
                 hist.bucket.push_back({cumulative, i < histogram::bounds.size()
                                                        ? histogram::bounds[i]
                                                        : std::numeric_limits<double>::infinity()});
               }
             });
    };
    counter("workers_requests_handled_total", "Requests handled, successful or not.",
            &worker_metrics::handled);
    counter("workers_requests_failed_total", "Requests handled that ended in a request error.",
            &worker_metrics::failed);
    counter("workers_requests_crashed_total", "Requests handled whose handling crashed the worker.",
            &worker_metrics::crashed);
    counter("workers_requests_dropped_total", "Requests left unhandled when the worker closed.",
            &worker_metrics::dropped);
    counter("workers_requests_cancelled_total", "Requests whose callers all gave up.",
            &worker_metrics::cancelled);
    counter("workers_requests_refused_total", "Requests pushed after the worker began closing.",
            &worker_metrics::refused);
    counter("workers_queue_alarms_total", "Times the queue crossed its high watermark or age.",
            &worker_metrics::queue_alarms);
    counter("workers_requests_slow_total", "Requests whose handler ran past its slow budget.",
            &worker_metrics::slow);
    counter("workers_requests_stuck_total", "Requests whose handler ran past its stuck budget.",
            &worker_metrics::stuck);
    counter("workers_shutdown_escalations_total",
            "Closes whose deadline expired and escalated to abort.",
            &worker_metrics::shutdown_escalations);
    counter("workers_restarts_total", "Restarts begun by the worker's restart policy.",
            &worker_metrics::restarts);
    gauge("workers_queue_length", "Requests waiting in the worker's queue.",
          &worker_metrics::queue_length);
    gauge("workers_requests_in_flight", "Requests being handled (0 or 1).",
          &worker_metrics::in_flight);
    durations("workers_queue_wait_seconds",
              "Time from push to treatment of each request handled, in seconds.",
              &worker_metrics::queue_wait);
    durations("workers_service_time_seconds",
              "Time from treatment to completion of each request handled, in seconds.",
              &worker_metrics::service_time);
    return out;
  }

  /// @brief prometheus-cpp's scrape: `families(samples())`. Any thread.
  std::vector<::prometheus::MetricFamily> Collect() const override { return families(samples()); }

 private:
  mutable std::mutex mutex_;
  std::vector<std::function<void(std::vector<sample>&)>> sources_;
};

WORKERS_END_NAMESPACE

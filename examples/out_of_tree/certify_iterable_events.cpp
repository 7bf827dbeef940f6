// certify_iterable_events — `destsim certify` for this repository's destination.
//
// The same command line, engine and exit codes as `destsim certify` (0 certified,
// 1 a property failed, 2 bad input). With no names it certifies the entries
// passed to certify_main — the shipped destination. Its fake ("acme_events",
// events_fake.h) comes from this repository too: add_fake() puts it in destsim's
// catalogue first. The canary is added to the registry beside the destination,
// so it is certifiable by name only:
//   certify_iterable_events --cases 100                         # exit 0
//   certify_iterable_events iterable_events_canary --cases 8    # exit 1
#include <cstdio>

#include "conformance/certify.h"
#include "events_fake.h"
#include "fakes/catalog.h"
#include "iterable_events.h"

int main(int argc, char** argv) {
  destsim::Status fake = destsim::add_fake(acme::events_fake_entry());
  if (!fake.ok()) {
    std::fprintf(stderr, "certify_iterable_events: %s\n", fake.error().message.c_str());
    return destsim::exit_code_of(fake.error());
  }
  destsim::Status added = destsim::add_destination(acme::iterable_events_canary());
  if (!added.ok()) {
    std::fprintf(stderr, "certify_iterable_events: %s\n", added.error().message.c_str());
    return destsim::exit_code_of(added.error());
  }
  return destsim::certify_main(argc, argv, {acme::iterable_events_destination()});
}

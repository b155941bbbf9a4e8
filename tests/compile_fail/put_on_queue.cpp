// expect: no matching function for call to.*put_request
// errors: 1
// put_request exists only for dropboxes: a queue worker is pushed to.
#include "group.hpp"

int main() {
  cf_worker w;
  workers::put_request(w, ping{});
}

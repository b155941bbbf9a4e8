// expect: put_request_is_for_dropbox_workers<.*queue<.*infinite>.*put_request is for dropbox workers|put_request is for dropbox workers.*put_request_is_for_dropbox_workers<.*queue<.*infinite>
// errors: 1
// put_request exists only for dropboxes: a queue worker is pushed to. The sentence names the
// worker's buffer kind.
#include "group.hpp"

int main() {
  cf_worker w;
  workers::put_request(w, ping{});
}

#include <herald/plugin.h>

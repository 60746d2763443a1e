/* planted_race.c - a data race on purpose: two threads increment one
 * plain int. Built and run only in a ThreadSanitizer build (the tsan lane
 * of scripts/test.sh); the test passes only if TSan reports the race, so
 * it proves the lane can fail. */
#include <pthread.h>
#include <stdio.h>

static int counter; /* unsynchronised on purpose */

static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        counter++;
    return NULL;
}

int main(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, bump, NULL);
    pthread_create(&b, NULL, bump, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("counter %d\n", counter);
    return 0;
}
